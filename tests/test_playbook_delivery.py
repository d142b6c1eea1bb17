"""Playbooks through the delivery engine: sends, operator tasks, do-not-disturb exits, broadcasts."""

import datetime as dt

import pytest

from campaigns.delivery.models import Delivery, OperatorTask
from campaigns.delivery.policy import set_dnd
from campaigns.playbooks import broadcasts, runner, triggers
from campaigns.playbooks.enrol import enrol
from campaigns.playbooks.models import Broadcast, Enrolment, StepRun
from tests.factories import CustomerFactory, FollowFactory
from tests.playbook_helpers import approved_content, enrolment, local, make_tag, publish

pytestmark = pytest.mark.django_db

MANUAL = {"type": "manual"}
NOON = local(2026, 3, 2, 12)  # outside quiet hours


def _customers(bank, n, operator="operator_a"):
    owner = bank.operators[operator]
    customers = [CustomerFactory(owner=owner) for _ in range(n)]
    for customer in customers:
        FollowFactory(customer=customer, operator=owner)
    return customers


def test_send_step_plans_one_delivery_per_customer_through_the_engine(bank):
    content = approved_content(bank)
    playbook = publish(bank, trigger=MANUAL, steps=[{"type": "send", "content_item": content.pk}], now=NOON)
    customers = _customers(bank, 3)
    enrol(playbook.live_version, [(c.pk, "t", NOON) for c in customers], now=NOON)
    stats = runner.tick(NOON)
    assert stats["sent"] == 3
    deliveries = Delivery.objects.filter(source_kind="playbook", source_id=playbook.live_version.pk, step_key="s1")
    assert set(deliveries.values_list("customer_id", flat=True)) == {c.pk for c in customers}
    assert set(StepRun.objects.values_list("outcome", flat=True)) == {"done"}


def test_task_step_creates_an_operator_task_for_the_owner(bank):
    playbook = publish(
        bank,
        trigger=MANUAL,
        steps=[{"type": "task", "kind": "call", "title": "电话问候", "script": "您好", "due_hours": 4}],
        now=NOON,
    )
    (customer,) = _customers(bank, 1)
    enrol(playbook.live_version, [(customer.pk, "t", NOON)], now=NOON)
    runner.tick(NOON)
    task = OperatorTask.objects.get(source_kind="playbook", source_id=playbook.live_version.pk, customer=customer)
    assert task.operator == bank.operators["operator_a"] and task.kind == "call"
    assert task.due_at == NOON + dt.timedelta(hours=4)


def test_a_task_nobody_can_take_does_not_stop_the_batch(bank):
    from tagging.models import Customer

    tag = make_tag("任务后")
    playbook = publish(
        bank,
        trigger=MANUAL,
        steps=[{"type": "task", "kind": "call", "title": "回访"}, {"type": "tag", "action": "add", "tag": tag.pk}],
        now=NOON,
    )
    (looked_after,) = _customers(bank, 1)
    orphan = Customer.objects.get(pk=bank.customers["unowned"].pk)
    enrol(playbook.live_version, [(looked_after.pk, "t", NOON), (orphan.pk, "t", NOON)], now=NOON)
    runner.tick(NOON)
    outcomes = dict(StepRun.objects.filter(step_key="s1").values_list("customer_id", "outcome"))
    assert outcomes == {looked_after.pk: "done", orphan.pk: "failed"}
    assert enrolment(playbook, orphan).state == Enrolment.State.COMPLETED


def test_do_not_disturb_ends_the_journey(bank):
    content = approved_content(bank)
    steps = [{"type": "delay", "days": 1}, {"type": "send", "content_item": content.pk}]
    playbook = publish(bank, trigger=MANUAL, steps=steps, exits=[{"kind": "dnd"}], now=NOON)
    quiet, other = _customers(bank, 2)
    enrol(playbook.live_version, [(quiet.pk, "t", NOON), (other.pk, "t", NOON)], now=NOON)
    runner.tick(NOON)
    set_dnd(quiet, True, actor=bank.user("admin"), reason="客户要求")
    runner.tick(NOON + dt.timedelta(days=1))
    assert enrolment(playbook, quiet).exit_reason == Enrolment.Reason.DND
    assert not Delivery.objects.filter(customer=quiet).exists()
    assert Delivery.objects.filter(customer=other).exists()


def _segment(bank, customers):
    from tagging.models import CustomerTag
    from tagging.segments.services import segment_create

    tag = make_tag("广播对象", kind="manual")
    CustomerTag.objects.bulk_create([CustomerTag(customer=c, tag=tag, source="manual") for c in customers])
    return segment_create(
        name="广播客群",
        condition={"match": "all", "rules": [{"field": "tag", "op": "has_any", "value": [tag.pk]}]},
        shared=True,
        owner=bank.user("admin"),
    )


def test_single_send_broadcast_is_planned_directly_without_enrolments(bank, django_capture_on_commit_callbacks):
    content = approved_content(bank)
    customers = _customers(bank, 5)
    segment = _segment(bank, customers)
    at = local(2026, 3, 2, 14)
    trigger = {"type": "broadcast", "segment": segment.pk, "at": at.isoformat()}
    playbook = publish(bank, trigger=trigger, steps=[{"type": "send", "content_item": content.pk}], now=NOON)
    triggers.scan(NOON)
    assert not Broadcast.objects.exists()
    with django_capture_on_commit_callbacks() as callbacks:
        triggers.scan(at)
    assert len(callbacks) == 1
    result = broadcasts.broadcast_run(version_id=playbook.live_version.pk, now=at)
    assert (result.status, result.mode, result.members, result.planned) == ("done", "direct", 5, 5)
    assert not Enrolment.objects.exists()
    assert Delivery.objects.filter(source_id=playbook.live_version.pk).count() == 5
    assert broadcasts.broadcast_run(version_id=playbook.live_version.pk, now=at).planned == 5  # done: left alone
    triggers.scan(at + dt.timedelta(minutes=1))
    assert Broadcast.objects.count() == 1


def test_multi_step_broadcast_enrols_the_frozen_members(bank):
    content = approved_content(bank)
    customers = _customers(bank, 4)
    segment = _segment(bank, customers)
    at = local(2026, 3, 2, 14)
    steps = [
        {"type": "send", "content_item": content.pk},
        {"type": "delay", "days": 2},
        {"type": "task", "kind": "call", "title": "回访"},
    ]
    playbook = publish(
        bank, trigger={"type": "broadcast", "segment": segment.pk, "at": at.isoformat()}, steps=steps, now=NOON
    )
    triggers.scan(at)
    result = broadcasts.broadcast_run(version_id=playbook.live_version.pk, now=at)
    assert (result.mode, result.enrolled) == ("enrolments", 4)
    runner.tick(at)
    assert Delivery.objects.filter(source_id=playbook.live_version.pk).count() == 4
    runner.tick(at + dt.timedelta(days=2))
    assert OperatorTask.objects.filter(source_id=playbook.live_version.pk).count() == 4


def test_monitor_shows_the_engine_funnel(bank, login):
    from django.urls import reverse

    content = approved_content(bank)
    playbook = publish(bank, trigger=MANUAL, steps=[{"type": "send", "content_item": content.pk}], now=NOON)
    customers = _customers(bank, 2)
    enrol(playbook.live_version, [(c.pk, "t", NOON) for c in customers], now=NOON)
    runner.tick(NOON)
    response = login("admin").get(reverse("playbooks:monitor", args=[playbook.pk]))
    assert response.context["funnel"]["planned"] == 2
    assert "delivery-funnel" in response.content.decode()


# --- a new WeCom contact, end to end through the callback --------------------------------------------------------

from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: E402,F401


@pytest.fixture
def wecom(sandbox):  # noqa: F811
    sandbox.seed(
        {
            "departments": [{"id": 1, "name": "示范银行", "parentid": 0}],
            "members": [{"userid": "operator_a", "name": "operator_a", "department": [1]}],
        }
    )
    return sandbox


def test_a_wecom_add_enrols_the_contact_in_new_contact_playbooks(bank, wecom):
    from django.test import Client

    from integrations.wecom.callbacks.tasks import process_event
    from integrations.wecom.models import CallbackEvent
    from tagging.models import Customer
    from tests.test_wecom_callbacks import post_event

    tag = make_tag("欢迎旅程")
    playbook = publish(bank, trigger={"type": "new_contact"}, steps=[{"type": "tag", "action": "add", "tag": tag.pk}])
    answer = wecom.event(change_type="add_external_contact", userid="operator_a", external_userid="wmWELCOME1")
    assert post_event(Client(), answer["xml"], how="independent").status_code == 200
    event = CallbackEvent.objects.get(raw_xml=answer["xml"])
    process_event(event.pk)
    process_event(event.pk)  # processed again: nobody enrolled twice
    customer = Customer.objects.get(external_userid="wmWELCOME1")
    (row,) = Enrolment.objects.filter(playbook=playbook)
    assert row.customer_id == customer.pk and row.trigger_key.startswith("follow:")


def test_starter_playbooks_are_published_once_and_run(bank):
    from campaigns.playbooks.models import Playbook
    from campaigns.playbooks.starter import seed_starter_playbooks
    from tagging.models import Customer

    summary = seed_starter_playbooks(now=NOON)
    assert len(summary["created"]) == 4
    assert Playbook.objects.filter(status=Playbook.Status.ACTIVE).count() == 4
    assert seed_starter_playbooks(now=NOON)["created"] == []
    # The payroll playbook: a payroll customer with yesterday's pay day enters and gets arm A, B or control.
    customers = _customers(bank, 6)
    Customer.objects.filter(pk__in=[c.pk for c in customers]).update(payroll_employer="某单位", payday=1)
    triggers.scan(local(2026, 3, 2, 9))
    payroll = Playbook.objects.get(starter_key="payroll_wealth")
    assert Enrolment.objects.filter(playbook=payroll).count() == 6
    runner.tick(local(2026, 3, 2, 10))
    arms = set(Enrolment.objects.filter(playbook=payroll).values_list("arm", flat=True))
    assert arms <= {"A", "B", "control"} and arms
    planned = Delivery.objects.filter(source_id=payroll.live_version.pk).count()
    assert planned == Enrolment.objects.filter(playbook=payroll).exclude(arm="control").count()
    # Arm A skips arm B's message.
    assert (
        not Delivery.objects.filter(source_id=payroll.live_version.pk)
        .values("customer")
        .annotate()
        .filter(customer__in=Delivery.objects.filter(step_key="s2").values("customer"), step_key="s3")
        .exists()
    )
