"""Data-scope probes of the customer 360 page's actions, for tests/test_url_scope.py.

Each action re-checks that the customer is visible (404 otherwise, with nothing of the customer in the answer)
before its role check; each probe has its positive control (a persona who may act on branch B's customer does).
The home page itself is probed in test_url_scope.py (`probe_home`); its sections are tested in tests/home/.
"""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

B_MARKERS = ("CB0000000001", "乙客户壹")


def _assert_refused(ctx, name: str, data: dict, personas=("operator_a", "lead_a", "manager_a")):
    url = reverse(name, args=[ctx.bank.customers["b_own"].pk])
    for persona in personas:
        response = ctx.login(persona).post(url, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 404, (name, persona, response.status_code)
        body = response.content.decode(errors="replace")
        for marker in B_MARKERS:
            assert marker not in body, f"{name} as {persona}: {marker!r} leaked"
    return url


def probe_note_add(ctx, name: str):
    from tagging.models import CustomerEvent

    url = _assert_refused(ctx, name, {"text": "探针备注"})
    assert not CustomerEvent.objects.filter(kind="note").exists()
    assert ctx.login("manager_b").post(url, {"text": "探针备注"}).status_code == 302
    assert CustomerEvent.objects.filter(customer=ctx.bank.customers["b_own"], kind="note").count() == 1


def probe_task_create(ctx, name: str):
    from campaigns.delivery.models import OperatorTask

    due = (timezone.localtime() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    data = {"kind": "call", "title": "探针任务", "due_at": due}
    url = _assert_refused(ctx, name, data)
    assert not OperatorTask.objects.exists()
    assert ctx.login("operator_b").post(url, data).status_code == 302
    assert OperatorTask.objects.get(customer=ctx.bank.customers["b_own"]).operator == ctx.bank.operators["operator_b"]


def probe_enrol(ctx, name: str):
    from campaigns.playbooks.models import Enrolment
    from tests.playbook_helpers import publish

    playbook = publish(ctx.bank, trigger={"type": "new_contact"}, steps=[{"type": "delay", "days": 1}], name="探针剧本")
    url = _assert_refused(ctx, name, {"playbook": playbook.pk})
    assert not Enrolment.objects.exists()
    assert ctx.login("admin").post(url, {"playbook": playbook.pk}).status_code == 302
    assert Enrolment.objects.filter(customer=ctx.bank.customers["b_own"], playbook=playbook).exists()


PROBES = {
    "customers:note-add": probe_note_add,
    "customers:task-create": probe_task_create,
    "customers:enrol": probe_enrol,
}
