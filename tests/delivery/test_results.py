"""After WeCom accepted a mass send: results with their real reasons, 41063, reminders within WeCom's limits, stale
tasks cancelled — and WeCom's own quota never refusing a send our policy allowed."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.delivery import dispatch, policy, reminders, results, services
from campaigns.delivery.models import Delivery, OperatorTask, SendTask
from tests.delivery.support import (
    add_customers,
    mass_content,
    no_quiet_hours,
    received,
    run_rounds,
    sandbox_results,
    seed_corp,
)
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def engine(settings, sandbox):  # noqa: F811
    settings.DELIVERY_POLL_SECONDS = 0
    settings.DELIVERY_SETTLE_SECONDS = 1
    sandbox.settings(confirm_delay=-1, dispatch_seconds=0)
    no_quiet_hours()
    return sandbox


def _broadcast(bank, customers, *, step="send", source_id=1, version=None):
    return services.plan_sends(
        customer_ids=[c.pk for c in customers],
        content_version=version or mass_content(bank),
        source_kind="broadcast",
        source_id=source_id,
        step_key=step,
        due_at=timezone.now(),
    )


def _submit():
    dispatch.assemble_due()
    dispatch.send_waiting(budget_seconds=30)


def test_not_a_friend_and_over_quota_are_recorded_with_their_reasons(bank, engine):
    customers = add_customers(bank.operators["operator_a"], 4)
    seed_corp(engine)
    # One customer used today's WeCom quota through a message we did not send; another deleted the operator.
    engine.settings(quota_mode="1_per_day")
    other = engine.api(
        "externalcontact/add_msg_template",
        {"external_userid": [customers[0].external_userid], "sender": "operator_a", "text": {"content": "别处的群发"}},
    )
    engine.confirm(other["msgid"])
    _broadcast(bank, customers)
    _submit()
    engine.event(change_type="del_follow_user", userid="operator_a", external_userid=customers[1].external_userid)
    run_rounds(engine)
    outcome = dict(Delivery.objects.values_list("customer_id", "reason"))
    assert outcome[customers[0].pk] == "over_quota" and outcome[customers[1].pk] == "not_friend"
    assert Delivery.objects.filter(status="delivered").count() == 2
    assert SendTask.objects.get().status == "done"


def test_results_asked_while_wecom_is_still_dispatching_are_asked_again(bank, engine):
    customers = add_customers(bank.operators["operator_a"], 3)
    seed_corp(engine)
    engine.settings(dispatch_seconds=2)
    _broadcast(bank, customers)
    _submit()
    engine.confirm(SendTask.objects.get().msgid)
    assert results.poll_due(budget_seconds=5)["dispatching"] == 1  # 41063
    SendTask.objects.update(next_poll_at=timezone.now())
    time.sleep(2.1)
    assert results.poll_due(budget_seconds=5)["done"] == 1
    assert Delivery.objects.filter(status="delivered").count() == 3


def test_with_the_sandbox_quota_equal_to_ours_wecom_never_refuses_an_allowed_send(bank, engine):
    rules = policy.get_policy()
    rules.wecom_quota_mode, rules.cap_per_day, rules.cap_per_week, rules.cap_per_month = "1_per_day", 1, 7, 31
    rules.save()
    engine.settings(quota_mode="1_per_day")
    ops = bank.operators
    customers = add_customers(ops["operator_a"], 6) + add_customers(ops["operator_a2"], 4)
    seed_corp(engine)
    version = mass_content(bank)
    first = _broadcast(bank, customers[:7], step="morning", source_id=1, version=version)
    second = _broadcast(bank, customers[3:], step="noon", source_id=2, version=version)  # overlaps 4 customers
    third = _broadcast(bank, customers, step="evening", source_id=3, version=version)
    assert (first.planned, second.planned, second.suppressed, third.planned) == (7, 3, 4, 0)
    run_rounds(engine)
    statuses = [row[3] for row in sandbox_results(engine)]
    assert len(statuses) == 10 and set(statuses) == {1}  # never 3 (over quota)
    assert Delivery.objects.filter(status="delivered").count() == 10


def test_unconfirmed_tasks_are_reminded_three_times_a_day_at_most(bank, engine):
    customers = add_customers(bank.operators["operator_a"], 2)
    seed_corp(engine)
    _broadcast(bank, customers)
    _submit()
    task = SendTask.objects.get()
    assert OperatorTask.objects.get(kind="confirm_send").operator == bank.operators["operator_a"]
    assert results.remind_unconfirmed()["reminded"] == 0  # not yet: 30 minutes by default
    SendTask.objects.update(submitted_at=timezone.now() - timedelta(hours=1))
    stats = results.remind_unconfirmed()
    assert stats["reminded"] == 1 and stats["cards"] == 1
    assert results.remind_unconfirmed()["reminded"] == 0  # spaced by an hour at least
    for _ in range(3):  # pretend the hour passed, three times
        SendTask.objects.update(reminders=[at - 3700 for at in SendTask.objects.get().reminders])
        results.remind_unconfirmed()
    task.refresh_from_db()
    assert len(task.reminders) == 3
    message = next(m for m in received(engine)["groupmsgs"] if m["msgid"] == task.msgid)
    assert len(message["reminds"]) == 3  # WeCom's limit, never a fourth call
    cards = [m for m in received(engine)["app_messages"] if m["msgtype"] == "textcard"]
    assert cards and all(d["userid"] == "operator_a" for m in cards for d in m["deliveries"])


def test_stale_tasks_are_cancelled_in_wecom(bank, engine):
    customers = add_customers(bank.operators["operator_a"], 2)
    seed_corp(engine)
    _broadcast(bank, customers)
    _submit()
    SendTask.objects.update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert results.cancel_stale()["cancelled"] == 1
    task = SendTask.objects.get()
    assert task.status == "cancelled"
    assert set(Delivery.objects.values_list("status", "reason")) == {("cancelled", "not_confirmed")}
    assert next(m for m in received(engine)["groupmsgs"] if m["msgid"] == task.msgid)["cancelled"]
    assert OperatorTask.objects.get(kind="confirm_send").status == "cancelled"


def test_a_task_confirmed_just_before_the_cancellation_is_read_as_sent(bank, engine):
    customers = add_customers(bank.operators["operator_a"], 2)
    seed_corp(engine)
    _broadcast(bank, customers)
    _submit()
    engine.confirm(SendTask.objects.get().msgid)
    SendTask.objects.update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert results.cancel_stale()["sent_before_cancel"] == 1
    results.poll_due(budget_seconds=5)
    assert Delivery.objects.filter(status="delivered").count() == 2


def test_a_task_never_accepted_by_its_deadline_is_given_up(bank, engine):
    customers = add_customers(bank.operators["operator_a"], 2)
    seed_corp(engine)
    _broadcast(bank, customers)
    dispatch.assemble_due()
    SendTask.objects.update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert results.cancel_stale()["expired"] == 1
    assert set(Delivery.objects.values_list("status", "reason")) == {("failed", "expired")}
    assert dispatch.send_one() is None


def test_operator_tasks_are_reminded_once_per_operator_within_the_member_limit(bank, engine, settings):
    ops = bank.operators
    customers = add_customers(ops["operator_a"], 3) + add_customers(ops["operator_b"], 1)
    seed_corp(engine)
    now = timezone.now()
    for index, customer in enumerate(customers):
        services.create_operator_task(
            customer_id=customer.pk,
            kind="call",
            title=f"回访{index}",
            due_at=now,
            source_kind="test",
            source_id=1,
            step_key="call",
        )
    settings.WECOM_MEMBER_MESSAGES_PER_MINUTE = 1
    from integrations.wecom.client import get_client

    get_client().send_app_message(["operator_b"], "text", {"content": "已用掉这一分钟"})
    stats = reminders.remind_operator_tasks()
    assert stats["cards"] == 1 and stats["tasks"] == 3 and stats["deferred"] == 1  # operator_b's minute is used
    a_tasks = OperatorTask.objects.filter(operator=ops["operator_a"])
    assert {t.reminders_sent for t in a_tasks} == {1}
    assert OperatorTask.objects.get(operator=ops["operator_b"]).reminders_sent == 0
    settings.WECOM_MEMBER_MESSAGES_PER_MINUTE = 30
    again = reminders.remind_operator_tasks()
    assert again["tasks"] == 1  # operator_b's now; operator_a is not reminded twice for the same due time
    assert OperatorTask.objects.get(operator=ops["operator_b"]).reminders_sent == 1
    task = a_tasks.first()
    services.task_postpone(task=task, actor=None, until=timezone.now() + timedelta(minutes=5))
    assert reminders.remind_operator_tasks()["tasks"] == 1  # due again after postponing
