"""Data-scope probes of the delivery engine's pages, for tests/test_url_scope.py.

Operator tasks are seen by whoever sees their operator (an operator their own, a lead or manager their subtree's);
send tasks and funnels by whoever sees the sender; the contact policy is whole-bank by design (head-office admins
only); a customer's do-not-disturb by whoever sees the customer. Each probe has its positive control.
"""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

B_MARKERS = ("CB0000000001", "乙客户壹")
B_OPERATOR_NAMES = ("孙乙", "operator_b")


def _text(response) -> str:
    return response.content.decode(errors="replace")


def _assert_absent(response, markers, where):
    body = _text(response)
    for marker in markers:
        assert marker not in body, f"{where}: {marker!r} leaked"


def _tasks_a_and_b(ctx) -> dict:
    from campaigns.delivery.services import create_operator_task

    due = timezone.now()
    made = {}
    for key, (customer, title) in {
        "a": ("a_own", "甲的电话任务"),
        "a2": ("a_followed", "甲二的电话任务"),
        "b": ("b_own", "乙的电话任务"),
    }.items():
        made[key] = create_operator_task(
            customer_id=ctx.bank.customers[customer].pk,
            kind="call",
            title=title,
            due_at=due,
            source_kind="probe",
            source_id=1,
            step_key="call",
        )
    return made


def probe_tasks_today(ctx, name: str):
    tasks = _tasks_a_and_b(ctx)
    b_operator = ctx.bank.operators["operator_b"]
    expected = {"operator_a": {"甲的电话任务"}, "lead_a": {"甲的电话任务", "甲二的电话任务"}}
    expected["manager_a"] = expected["lead_a"]
    for persona, titles in expected.items():
        for params in ({}, {"operator": b_operator.pk}, {"state": "all"}, {"state": "overdue"}):
            response = ctx.login(persona).get(reverse(name), params)
            assert response.status_code == 200, (persona, params)
            shown = {task.title for task in response.context["page"]}
            assert "乙的电话任务" not in shown and shown <= titles, (persona, params, shown)
            _assert_absent(response, ("乙的电话任务",) + B_MARKERS, f"{name} as {persona} with {params}")
        assert {t.title for t in ctx.login(persona).get(reverse(name)).context["page"]} == titles, persona
    assert tasks["b"].operator == b_operator
    control = ctx.login("manager_b").get(reverse(name))
    assert {task.title for task in control.context["page"]} == {"乙的电话任务"}


def probe_task_action(action: str, make_data):
    def probe(ctx, name: str):
        from campaigns.delivery.models import OperatorTask

        data = make_data()
        task = _tasks_a_and_b(ctx)["b"]
        url = reverse(name, args=[task.pk])
        for persona in ("operator_a", "lead_a", "manager_a"):
            response = ctx.login(persona).post(url, data, HTTP_HX_REQUEST="true")
            assert response.status_code == 404, (persona, response.status_code)
            _assert_absent(response, ("乙的电话任务",) + B_MARKERS, f"{name} as {persona}")
        assert OperatorTask.objects.get(pk=task.pk).status == "open"
        assert ctx.login("manager_b").post(url, data).status_code == 302
        assert OperatorTask.objects.get(pk=task.pk).status == action

    return probe


def _send_task_of_b(ctx):
    from campaigns.delivery.models import Delivery, SendTask
    from tests.campaigns_support import approved

    version = approved(ctx.bank, author="manager_b").current
    task = SendTask.objects.create(
        source_kind="broadcast",
        source_id=77,
        step_key="send",
        sender=ctx.bank.operators["operator_b"],
        content_version=version,
        recipients=1,
        marker="00000000b7",
        deadline_at=timezone.now(),
    )
    Delivery.objects.create(
        source_kind="broadcast",
        source_id=77,
        step_key="send",
        customer=ctx.bank.customers["b_own"],
        sender=ctx.bank.operators["operator_b"],
        content_version=version,
        due_at=timezone.now(),
        status="queued",
        send_task=task,
    )
    return task


def probe_delivery_sources(ctx, name: str):
    _send_task_of_b(ctx)
    for persona in ("operator_a", "lead_a", "manager_a"):
        response = ctx.login(persona).get(reverse(name))
        assert response.status_code == 200
        assert response.context["sources"] == [], persona
        _assert_absent(response, ("broadcast #77",) + B_OPERATOR_NAMES, f"{name} as {persona}")
    control = ctx.login("manager_b").get(reverse(name))
    assert "broadcast #77" in _text(control)


def probe_delivery_source(ctx, name: str):
    _send_task_of_b(ctx)
    url = reverse(name, args=["broadcast", 77])
    for persona in ("operator_a", "lead_a", "manager_a"):
        response = ctx.login(persona).get(url)
        assert response.status_code == 200
        assert response.context["funnel"]["planned"] == 0, persona
        _assert_absent(response, B_OPERATOR_NAMES + B_MARKERS, f"{name} as {persona}")
    control = ctx.login("manager_b").get(url)
    assert control.context["funnel"]["planned"] == 1
    if "page" in control.context:
        assert "孙乙" in _text(control)


def probe_contact_policy(ctx, name: str):
    for persona in ("operator_a", "lead_a", "manager_a", "reviewer", "nobody"):
        assert ctx.login(persona).get(reverse(name)).status_code == 403, persona
    assert ctx.login("admin").get(reverse(name)).status_code == 200


def probe_customer_dnd(ctx, name: str):
    from campaigns.delivery.models import ContactPreference

    url = reverse(name, args=[ctx.bank.customers["b_own"].pk])
    for persona in ("operator_a", "lead_a", "manager_a"):
        response = ctx.login(persona).post(url, {"on": "1", "reason": "probe"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 404, (persona, response.status_code)
        _assert_absent(response, B_MARKERS, f"{name} as {persona}")
    assert not ContactPreference.objects.filter(customer=ctx.bank.customers["b_own"]).exists()
    assert ctx.login("manager_b").post(url, {"on": "1"}).status_code == 302
    assert ContactPreference.objects.get(customer=ctx.bank.customers["b_own"]).dnd


def _in_two_days() -> str:
    return (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")


PROBES = {
    "delivery:tasks-today": probe_tasks_today,
    "delivery:task-done": probe_task_action("done", lambda: {"outcome": "reached"}),
    "delivery:task-postpone": probe_task_action("postponed", lambda: {"until": _in_two_days()}),
    "delivery:sources": probe_delivery_sources,
    "delivery:source": probe_delivery_source,
    "delivery:source-funnel": probe_delivery_source,
    "delivery:policy": probe_contact_policy,
    "delivery:customer-dnd": probe_customer_dnd,
}
