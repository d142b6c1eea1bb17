"""Each send task becomes exactly one WeCom mass message, whatever happens between our row and WeCom's answer:
timeouts after WeCom created it, a worker dying after the call or before it, errors, 45009 storms."""

import time

import pytest
from django.utils import timezone

from campaigns.content.services import attachment_link
from campaigns.delivery import dispatch, marker, results, services
from campaigns.delivery.models import Delivery, SendTask
from tests.delivery.support import (
    add_customers,
    mass_content,
    no_quiet_hours,
    received,
    run_rounds,
    sandbox_messages,
    sandbox_results,
    seed_corp,
)
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

SETTLE = 2.0


@pytest.fixture
def engine(settings, sandbox, monkeypatch):  # noqa: F811
    settings.DELIVERY_POLL_SECONDS = 0
    settings.DELIVERY_SETTLE_SECONDS = SETTLE
    settings.WECOM_TIMEOUT_SECONDS = 1.0
    monkeypatch.setattr(dispatch, "BACKOFF_BASE_SECONDS", 0.05)
    sandbox.settings(confirm_delay=-1, dispatch_seconds=0)
    no_quiet_hours()
    return sandbox


def _broadcast(bank, customers, version=None, *, step="send"):
    return services.plan_sends(
        customer_ids=[c.pk for c in customers],
        content_version=version or mass_content(bank),
        source_kind="broadcast",
        source_id=1,
        step_key=step,
        due_at=timezone.now(),
    )


def _one_message_per_task():
    """The sandbox holds one mass message per send task and each customer once, and our rows agree."""
    tasks = list(SendTask.objects.exclude(msgid=None))
    return tasks


def _assert_exactly_once(sandbox, customers):  # noqa: F811
    rows = sandbox_results(sandbox)
    externals = [row[2] for row in rows]
    assert sorted(externals) == sorted(c.external_userid for c in customers), "each customer in exactly one message"
    msgids = set(sandbox_messages(sandbox))
    assert msgids == set(SendTask.objects.exclude(msgid=None).values_list("msgid", flat=True))
    assert Delivery.objects.exclude(status="delivered").count() == 0


def test_the_marker_survives_a_round_trip():
    token = marker.new()
    stamped = marker.stamp("您好 https://bank.example/x", token, max_bytes=4000)
    assert stamped.endswith("您好 https://bank.example/x") and marker.read(stamped) == token
    assert marker.visible(stamped) == "您好 https://bank.example/x"
    assert marker.stamp("", token, max_bytes=4000) is None
    assert marker.stamp("字" * 1320, token, max_bytes=4000) is None  # 3960 bytes + 66 do not fit


def test_a_timeout_after_wecom_created_the_task_is_found_not_repeated(bank, engine):
    customers = add_customers(bank.operators["operator_a"], 5)
    seed_corp(engine)
    _broadcast(bank, customers)
    dispatch.assemble_due()
    # WeCom takes 2.5 s to answer (past our 1 s timeout), but creates the message all the same.
    engine.faults(path_prefix="externalcontact/add_msg_template", hang_next=1, hang_seconds=2.5)
    assert dispatch.send_one() == "unknown"
    task = SendTask.objects.get()
    assert task.status == "unknown" and task.msgid is None
    assert dispatch.send_one() is None  # not called again before it has settled
    time.sleep(SETTLE + 0.2)
    assert dispatch.send_one() == "adopted"
    task.refresh_from_db()
    assert task.status == "submitted" and task.adopted and task.msgid == sandbox_messages(engine)[0]
    run_rounds(engine)
    _assert_exactly_once(engine, customers)


def test_a_worker_killed_after_the_call_before_saving_the_msgid(bank, engine, monkeypatch):
    customers = add_customers(bank.operators["operator_a"], 5)
    seed_corp(engine)
    _broadcast(bank, customers)
    dispatch.assemble_due()

    def killed(*args, **kwargs):
        raise SystemExit("kill -9")

    with monkeypatch.context() as patch:
        patch.setattr(dispatch, "_submitted", killed)
        with pytest.raises(SystemExit):
            dispatch.send_one()
    task = SendTask.objects.get()
    assert task.status == "calling" and task.msgid is None and len(sandbox_messages(engine)) == 1
    assert dispatch.send_one() is None  # its lease still holds
    time.sleep(SETTLE + 0.2)
    assert dispatch.send_one() == "adopted"
    run_rounds(engine)
    _assert_exactly_once(engine, customers)
    assert SendTask.objects.get().attempts == 1


def test_a_worker_killed_before_the_call_calls_again(bank, engine, monkeypatch):
    customers = add_customers(bank.operators["operator_a"], 5)
    seed_corp(engine)
    _broadcast(bank, customers)
    dispatch.assemble_due()
    client = dispatch.sending_client()

    def killed(*args, **kwargs):
        raise SystemExit("kill -9")

    with monkeypatch.context() as patch:
        patch.setattr(client, "add_msg_template", killed)
        with pytest.raises(SystemExit):
            dispatch.send_one()
    assert sandbox_messages(engine) == []
    time.sleep(SETTLE + 0.2)
    assert dispatch.send_one() == "not_found"  # looked for, not there: safe to call
    assert dispatch.send_one() == "submitted"
    run_rounds(engine)
    _assert_exactly_once(engine, customers)


def test_without_a_marker_the_task_is_recognised_by_sender_and_recipients(bank, engine, monkeypatch):
    link = attachment_link(title="本月理财", url="https://bank.example/wealth")
    version = mass_content(bank, text="", attachments=[link])
    customers = add_customers(bank.operators["operator_a"], 4)
    seed_corp(engine)
    _broadcast(bank, customers, version)
    dispatch.assemble_due()

    def killed(*args, **kwargs):
        raise SystemExit("kill -9")

    with monkeypatch.context() as patch:
        patch.setattr(dispatch, "_submitted", killed)
        with pytest.raises(SystemExit):
            dispatch.send_one()
    task = SendTask.objects.get()
    assert "text" not in task.payload and task.payload["attachments"][0]["msgtype"] == "link"
    time.sleep(SETTLE + 0.2)
    assert dispatch.send_one() == "adopted"
    run_rounds(engine)
    _assert_exactly_once(engine, customers)


def test_an_http_error_is_an_unknown_outcome_and_a_missing_task_is_created_once(bank, engine):
    customers = add_customers(bank.operators["operator_a"], 3)
    seed_corp(engine)
    _broadcast(bank, customers)
    dispatch.assemble_due()
    engine.faults(path_prefix="externalcontact/add_msg_template", http_error_next=1)
    assert dispatch.send_one() == "unknown"
    time.sleep(SETTLE + 0.2)
    assert dispatch.send_one() == "not_found"
    assert dispatch.send_one() == "submitted"
    run_rounds(engine)
    _assert_exactly_once(engine, customers)


def test_a_transient_error_retries_only_that_task(bank, engine, monkeypatch):
    monkeypatch.setattr(dispatch, "TASK_RECIPIENTS_MAX", 3)
    monkeypatch.setattr(dispatch, "BACKOFF_BASE_SECONDS", 2.0)
    ops = bank.operators
    customers = add_customers(ops["operator_a"], 7) + add_customers(ops["operator_b"], 2)
    seed_corp(engine)
    _broadcast(bank, customers)
    stats = dispatch.assemble_due()
    assert stats["tasks"] == 4  # operator_a: 3 + 3 + 1, operator_b: 2
    engine.faults(path_prefix="externalcontact/add_msg_template", freq_limit_next=1)
    outcomes = dispatch.send_waiting(budget_seconds=30)
    assert outcomes["retry"] == 1 and outcomes["submitted"] == 3
    retried = SendTask.objects.get(status="pending")
    assert retried.errcode == 45009 and retried.attempts == 1
    assert dispatch.send_one() is None  # not before its backoff
    time.sleep(2.1)
    assert dispatch.send_waiting(budget_seconds=30)["submitted"] == 1
    assert SendTask.objects.get(pk=retried.pk).attempts == 2
    run_rounds(engine)
    _assert_exactly_once(engine, customers)


def test_a_permanent_error_fails_the_task_without_retrying(bank, engine):
    customers = add_customers(bank.operators["operator_a"], 2)
    seed_corp(engine)
    engine.seed({"departments": [{"id": 1, "name": "示范银行", "parentid": 0}], "members": []})  # nobody exists
    _broadcast(bank, customers)
    dispatch.assemble_due()
    assert dispatch.send_one() == "failed"
    task = SendTask.objects.get()
    assert task.status == "failed" and task.errcode == 40003
    assert set(Delivery.objects.values_list("status", "reason")) == {("failed", "rejected")}
    assert dispatch.send_one() is None


def test_everything_arrives_once_through_errors_and_45009_storms(bank, engine, monkeypatch):
    monkeypatch.setattr(dispatch, "TASK_RECIPIENTS_MAX", 4)
    ops = bank.operators
    customers = (
        add_customers(ops["operator_a"], 13)
        + add_customers(ops["operator_a2"], 9)
        + add_customers(ops["operator_b"], 6)
    )
    seed_corp(engine)
    engine.settings(dispatch_seconds=1)
    _broadcast(bank, customers)
    engine.faults(path_prefix="externalcontact/", error_rate=0.2, http_error_rate=0.05, freq_limit_next=6)
    deadline = time.monotonic() + 150
    rounds = 0
    while Delivery.objects.exclude(status="delivered").exists() and time.monotonic() < deadline:
        if rounds in (0, 2):
            engine.faults(freq_limit_seconds=1.0)  # a 45009 storm: every call for a second
        dispatch.assemble_due()
        dispatch.send_waiting(budget_seconds=10)
        for message in received(engine)["groupmsgs"]:
            if any(task["status"] == 0 for task in message["tasks"]):
                engine.confirm(message["msgid"])
        results.poll_due(budget_seconds=10)
        rounds += 1
        time.sleep(0.2)
    engine.clear_faults()
    assert rounds > 2
    _assert_exactly_once(engine, customers)
    assert SendTask.objects.filter(status="done").count() == SendTask.objects.count() == 9
