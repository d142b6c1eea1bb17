"""The engine end to end against the sandbox: plan → send tasks → WeCom → the member confirms → results."""

import pytest
from django.utils import timezone

from campaigns.delivery import dispatch, services
from campaigns.delivery.models import Delivery, OperatorTask, SendTask
from tests.delivery.support import add_customers, mass_content, no_quiet_hours, run_rounds, sandbox_results, seed_corp
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def engine(settings, sandbox):  # noqa: F811
    settings.DELIVERY_POLL_SECONDS = 0
    settings.DELIVERY_SETTLE_SECONDS = 1
    sandbox.settings(confirm_delay=-1, dispatch_seconds=0)
    no_quiet_hours()
    return sandbox


def test_a_broadcast_reaches_every_customer_once(bank, engine):
    ops = bank.operators
    customers = add_customers(ops["operator_a"], 30) + add_customers(ops["operator_b"], 20)
    seed_corp(engine)
    version = mass_content(bank)
    result = services.plan_sends(
        customer_ids=[c.pk for c in customers],
        content_version=version,
        source_kind="broadcast",
        source_id=1,
        step_key="send",
        due_at=timezone.now(),
    )
    assert result.planned + result.deferred >= 0
    run_rounds(engine)
    tasks = list(SendTask.objects.order_by("pk"))
    assert len(tasks) == 2 and {t.status for t in tasks} == {"done"}
    assert Delivery.objects.filter(status="delivered").count() == 50
    rows = sandbox_results(engine)
    assert len(rows) == 50 and {r[3] for r in rows} == {1}
    assert OperatorTask.objects.filter(kind="confirm_send", status="done").count() == 2
    assert dispatch.waiting_count() == 0


def test_a_broadcast_due_now_is_grouped_into_send_tasks_as_it_is_planned(bank, engine, monkeypatch):
    monkeypatch.setattr(services, "GROUP_AT_ONCE", 5)
    monkeypatch.setattr(dispatch, "TASK_RECIPIENTS_MAX", 4)
    ops = bank.operators
    customers = add_customers(ops["operator_a"], 9) + add_customers(ops["operator_b"], 3)
    seed_corp(engine)
    plan = {
        "customer_ids": [c.pk for c in customers],
        "content_version": mass_content(bank),
        "source_kind": "broadcast",
        "source_id": 2,
        "step_key": "send",
        "due_at": timezone.now(),
    }
    result = services.plan_sends(**plan)
    assert (result.planned, result.suppressed) == (12, 0)
    tasks = sorted(SendTask.objects.values_list("sender_id", "recipients"))
    assert tasks == sorted([(ops["operator_a"].pk, 4), (ops["operator_a"].pk, 4), (ops["operator_a"].pk, 1),
                            (ops["operator_b"].pk, 3)])  # fmt: skip
    for task in SendTask.objects.all():
        assert Delivery.objects.filter(send_task=task, status="queued").count() == task.recipients
    assert services.plan_sends(**plan).existing == 12 and SendTask.objects.count() == 4  # again: nothing new
    run_rounds(engine)
    assert Delivery.objects.filter(status="delivered").count() == 12
    assert len(sandbox_results(engine)) == 12
