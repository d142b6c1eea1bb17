"""Actions of the customer 360 page: each works for someone allowed, and is refused out of scope, for a role that
may not act, without a CSRF token and with an invalid payload."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.delivery.models import ContactPreference, OperatorTask
from campaigns.delivery.policy import set_dnd
from campaigns.playbooks.models import Enrolment
from tagging.models import CustomerEvent, CustomerTag, TagPush
from tests.customer360.support import manual_tag
from tests.playbook_helpers import publish

HTMX = {"HTTP_HX_REQUEST": "true"}


def _due(hours: int = 2) -> str:
    return (timezone.localtime() + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


def _url(name, customer):
    return reverse(name, args=[customer.pk])


# --- notes -----------------------------------------------------------------------------------------------------


def test_operator_adds_a_note(bank, login):
    customer = bank.customers["a_own"]
    client = login("operator_a")
    response = client.post(_url("customers:note-add", customer), {"text": "  电话回访：\n对理财有意向 "}, **HTMX)
    assert response.status_code == 200
    note = CustomerEvent.objects.get(customer=customer, kind="note")
    assert note.summary == "电话回访： 对理财有意向" and note.operator == bank.operators["operator_a"]
    assert "电话回访" in response.content.decode() and 'id="c360-notes"' in response.content.decode()
    plain = client.post(_url("customers:note-add", customer), {"text": "第二条"})
    assert plain.status_code == 302 and plain["Location"] == _url("customers:detail", customer)
    page = client.get(_url("customers:detail", customer)).content.decode()
    assert "第二条" in page and "电话回访" in page


@pytest.mark.parametrize("text", ["", "   ", "长" * 256])
def test_an_invalid_note_is_refused(bank, login, text):
    response = login("operator_a").post(_url("customers:note-add", bank.customers["a_own"]), {"text": text}, **HTMX)
    assert response.status_code == 400
    assert 'class="alert alert-error"' in response.content.decode()
    assert not CustomerEvent.objects.filter(kind="note").exists()


# --- tasks -----------------------------------------------------------------------------------------------------


def test_operator_creates_tasks_for_themselves_with_fresh_keys(bank, login):
    customer = bank.customers["a_followed"]  # owned by operator_a2, followed by operator_a
    client = login("operator_a")
    data = {"kind": "call", "title": "回访", "due_at": _due(), "script": "问问到期安排"}
    assert client.post(_url("customers:task-create", customer), data, **HTMX).status_code == 200
    assert client.post(_url("customers:task-create", customer), data).status_code == 302
    tasks = OperatorTask.objects.filter(customer=customer, source_kind="manual")
    assert tasks.count() == 2 and len({task.source_id for task in tasks}) == 2
    assert {task.operator.name for task in tasks} == {"赵甲"} and {task.status for task in tasks} == {"open"}
    assert tasks.first().script == "问问到期安排"


def test_a_manager_creates_the_task_for_the_customers_operator(bank, login):
    customer = bank.customers["a_own"]
    response = login("manager_a").post(
        _url("customers:task-create", customer), {"kind": "visit", "title": "上门", "due_at": _due()}, **HTMX
    )
    assert response.status_code == 200 and "赵甲" in response.content.decode()
    assert OperatorTask.objects.get(customer=customer).operator == bank.operators["operator_a"]


def test_a_task_for_a_do_not_disturb_customer_says_so(bank, login):
    customer = bank.customers["a_own"]
    set_dnd(customer, True, reason="客户要求")
    response = login("operator_a").post(
        _url("customers:task-create", customer), {"kind": "call", "title": "回访", "due_at": _due()}, **HTMX
    )
    assert response.status_code == 400
    assert OperatorTask.objects.get(customer=customer).status == "cancelled"


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "confirm_send", "title": "x", "due_at": "{due}"},
        {"kind": "call", "title": "", "due_at": "{due}"},
        {"kind": "call", "title": "x", "due_at": "not a time"},
        {"kind": "call", "title": "x", "due_at": "2020-01-01T09:00"},
        {"kind": "call", "title": "x" * 101, "due_at": "{due}"},
    ],
)
def test_an_invalid_task_is_refused(bank, login, data):
    data = {key: value.format(due=_due()) for key, value in data.items()}
    response = login("operator_a").post(_url("customers:task-create", bank.customers["a_own"]), data, **HTMX)
    assert response.status_code == 400
    assert not OperatorTask.objects.exists()


# --- playbooks -------------------------------------------------------------------------------------------------


def _playbook(bank):
    return publish(bank, trigger={"type": "new_contact"}, steps=[{"type": "delay", "days": 1}], name="理财到期关怀")


def test_head_office_enrols_a_customer_once(bank, login):
    playbook = _playbook(bank)
    customer = bank.customers["a_own"]
    client = login("admin")
    page = client.get(_url("customers:detail", customer)).content.decode()
    assert "理财到期关怀" in page and _url("customers:enrol", customer) in page
    response = client.post(_url("customers:enrol", customer), {"playbook": playbook.pk}, **HTMX)
    assert response.status_code == 200
    assert Enrolment.objects.filter(playbook=playbook, customer=customer, state="active").count() == 1
    again = client.post(_url("customers:enrol", customer), {"playbook": playbook.pk}, **HTMX)
    assert again.status_code == 400  # already in progress
    assert Enrolment.objects.filter(playbook=playbook, customer=customer).count() == 1


def test_enrolment_needs_the_playbook_role_and_a_valid_playbook(bank, login):
    playbook = _playbook(bank)
    customer = bank.customers["a_own"]
    for persona in ("operator_a", "lead_a", "manager_a"):
        response = login(persona).post(_url("customers:enrol", customer), {"playbook": playbook.pk}, **HTMX)
        assert response.status_code == 403, persona
    assert (
        _url("customers:enrol", customer)
        not in login("operator_a").get(_url("customers:detail", customer)).content.decode()
    )
    for bad in ("", "999999", "abc"):
        response = login("admin").post(_url("customers:enrol", customer), {"playbook": bad}, **HTMX)
        assert response.status_code == 400, bad
    assert not Enrolment.objects.exists()


# --- out of scope, wrong role, no CSRF -----------------------------------------------------------------------------

ACTIONS = {
    "customers:note-add": {"text": "越权备注"},
    "customers:task-create": {"kind": "call", "title": "越权任务", "due_at": "{due}"},
}


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_actions_refuse_a_customer_out_of_scope(bank, login, name):
    data = {key: value.format(due=_due()) for key, value in ACTIONS[name].items()}
    for persona, customer in (("operator_a", "b_own"), ("operator_a", "a_unfollowed"), ("manager_a", "b_own")):
        response = login(persona).post(_url(name, bank.customers[customer]), data, **HTMX)
        assert response.status_code == 404, (persona, customer)
        assert "乙客户壹" not in response.content.decode()
    assert not CustomerEvent.objects.filter(kind="note").exists() and not OperatorTask.objects.exists()
    assert login("admin").post(_url(name, bank.customers["b_own"]), data).status_code == 302  # positive control


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_compliance_reads_but_does_not_act(bank, login, name):
    data = {key: value.format(due=_due()) for key, value in ACTIONS[name].items()}
    assert login("reviewer").post(_url(name, bank.customers["a_own"]), data, **HTMX).status_code == 403
    page = login("reviewer").get(_url("customers:detail", bank.customers["a_own"])).content.decode()
    assert _url(name, bank.customers["a_own"]) not in page


@pytest.mark.parametrize("name", [*sorted(ACTIONS), "customers:enrol"])
def test_actions_need_a_csrf_token(bank, name):
    playbook = _playbook(bank)
    data = {key: value.format(due=_due()) for key, value in ACTIONS.get(name, {"playbook": str(playbook.pk)}).items()}
    client = Client(enforce_csrf_checks=True)
    client.force_login(bank.user("admin"))
    response = client.post(_url(name, bank.customers["a_own"]), data, **HTMX)
    assert response.status_code == 403
    assert not CustomerEvent.objects.filter(kind="note").exists() and not OperatorTask.objects.exists()
    assert not Enrolment.objects.exists()


@pytest.mark.parametrize("name", [*sorted(ACTIONS), "customers:enrol"])
def test_actions_answer_only_post(bank, login, name):
    assert login("admin").get(_url(name, bank.customers["a_own"])).status_code == 405


# --- tags and do-not-disturb: the page's own cards, reused -------------------------------------------------------


def test_manual_tag_from_the_page_goes_to_wecom_through_the_outbox(bank, login):
    tag = manual_tag()
    customer = bank.customers["a_own"]
    client = login("operator_a")
    page = client.get(_url("customers:detail", customer)).content.decode()
    assert reverse("tags:customer", args=[customer.pk]) in page
    response = client.post(reverse("tags:customer", args=[customer.pk]), {"op": "add", "tag": tag.pk}, **HTMX)
    assert response.status_code == 200 and CustomerTag.objects.filter(customer=customer, tag=tag).exists()
    assert TagPush.objects.filter(tag=tag, action="add", status="pending").exists()
    history = client.get(_url("customers:detail", customer)).context["tag_history"]
    assert [(change.tag_id, change.source) for change in history] == [(tag.pk, "manual")]
    client.post(reverse("tags:customer", args=[customer.pk]), {"op": "remove", "tag": tag.pk}, **HTMX)
    assert not CustomerTag.objects.filter(customer=customer, tag=tag).exists()


def test_do_not_disturb_from_the_page(bank, login):
    customer = bank.customers["a_own"]
    client = login("operator_a")
    assert (
        reverse("delivery:customer-dnd", args=[customer.pk])
        in client.get(_url("customers:detail", customer)).content.decode()
    )
    assert (
        client.post(reverse("delivery:customer-dnd", args=[customer.pk]), {"on": "1", "reason": "来电要求"}).status_code
        == 302
    )
    assert ContactPreference.objects.get(customer=customer).dnd
    assert (
        client.post(reverse("delivery:customer-dnd", args=[bank.customers["b_own"].pk]), {"on": "1"}).status_code == 404
    )
