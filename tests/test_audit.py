"""The audit log: written by one service, readable only by audit roles, filterable, read-only in the admin."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from workbench.audit.middleware import RequestContextMiddleware
from workbench.audit.models import AuditAction, AuditEvent
from workbench.audit.selectors import audit_events_for
from workbench.audit.services import audit_record


def _make_events(bank):
    """Four known rows, and nothing else (force_login writes login rows of its own)."""
    AuditEvent.objects.all().delete()
    manager = bank.user("manager_a")
    customer = bank.customers["a_own"]
    audit_record(actor=manager, action=AuditAction.PII_VIEW, obj=customer, ip_address="10.0.0.1")
    audit_record(actor=manager, action=AuditAction.LOGIN, ip_address="10.0.0.1")
    audit_record(actor=bank.user("admin"), action=AuditAction.LOGIN, ip_address="10.0.0.2")
    audit_record(actor=None, username="intruder", action=AuditAction.LOGIN_FAILED, ip_address="10.6.6.6")


@pytest.fixture
def events(bank):
    _make_events(bank)


def test_audit_record_names_the_object(bank):
    customer = bank.customers["a_own"]
    event = audit_record(actor=bank.user("manager_a"), action=AuditAction.PII_VIEW, obj=customer, detail={"x": 1})
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.actor_username == "manager_a"
    assert (event.object_type, event.object_id, event.object_repr) == (
        "tagging.customer",
        str(customer.pk),
        str(customer),
    )
    assert event.detail == {"x": 1}
    assert event.ip_address is None  # outside a request and not given


def test_audit_record_takes_the_ip_of_the_current_request(bank):
    captured = {}

    def view(request):
        captured["event"] = audit_record(actor=bank.user("admin"), action=AuditAction.ADMIN_CHANGE)
        return None

    RequestContextMiddleware(view)(RequestFactory().get("/", REMOTE_ADDR="192.0.2.10"))
    assert captured["event"].ip_address == "192.0.2.10"
    # The address does not outlive the request.
    assert audit_record(actor=bank.user("admin"), action=AuditAction.ADMIN_CHANGE).ip_address is None


def test_the_row_keeps_the_username_after_the_account_is_gone(bank):
    user = bank.user("nobody")
    event = audit_record(actor=user, action=AuditAction.LOGIN)
    user.delete()
    event.refresh_from_db()
    assert event.actor is None
    assert event.actor_username == "nobody"


@pytest.mark.parametrize(
    ("persona", "sees"),
    [("admin", True), ("reviewer", True), ("superuser", True), ("manager_a", False), ("operator_a", False)],
)
def test_selector_is_for_audit_roles_only(bank, events, persona, sees):
    assert audit_events_for(bank.user(persona)).count() == (4 if sees else 0)


@pytest.mark.parametrize(
    ("filters", "count"),
    [
        ({"action": "login"}, 2),
        ({"username": "manager_a"}, 2),
        ({"username": "intruder", "action": "login_failed"}, 1),
        ({"object_type": "tagging.customer"}, 1),
        ({"object_type": "tagging.customer", "object_id": "0"}, 0),
    ],
)
def test_selector_filters(bank, events, filters, count):
    assert audit_events_for(bank.user("reviewer"), **filters).count() == count


@pytest.mark.parametrize("persona", ["operator_a", "lead_a", "manager_a", "nobody"])
def test_audit_page_is_refused_to_other_roles(bank, login, persona):
    assert login(persona).get(reverse("audit:list")).status_code == 403


@pytest.mark.parametrize("persona", ["admin", "reviewer"])
def test_audit_page_for_audit_roles(bank, login, persona):
    client = login(persona)
    _make_events(bank)
    response = client.get(reverse("audit:list"))
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 4
    assert "intruder" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "login"}, {("manager_a", "login"), ("admin", "login")}),
        ({"username": " intruder "}, {("intruder", "login_failed")}),
        ({"action": "pii_view", "object_type": "tagging.customer"}, {("manager_a", "pii_view")}),
        ({"action": "export_downloaded"}, set()),
    ],
)
def test_audit_page_filters(bank, login, params, expected):
    client = login("reviewer")
    _make_events(bank)
    response = client.get(reverse("audit:list"), params)
    assert response.status_code == 200
    assert {(e.actor_username, e.action) for e in response.context["page"].object_list} == expected


def test_audit_page_paginates(bank, login):
    client = login("reviewer")
    AuditEvent.objects.all().delete()
    for _ in range(60):
        audit_record(actor=bank.user("admin"), action=AuditAction.LOGIN)
    first = client.get(reverse("audit:list"))
    second = client.get(reverse("audit:list"), {"page": 2})
    assert len(first.context["page"].object_list) == 50
    assert len(second.context["page"].object_list) == 10


def test_audit_admin_is_read_only(bank):
    model_admin = admin.site._registry[AuditEvent]
    request = RequestFactory().get("/admin/")
    request.user = bank.user("admin")
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_detail_values_are_shown_readably():
    from workbench.audit.templatetags.audit_format import audit_value

    assert audit_value(["mobile", "id_number"]) == "mobile、id_number"
    assert audit_value({"occupation_group": "retiree", "aum_min": "1000"}) == "occupation_group=retiree，aum_min=1000"
    assert audit_value(None) == "—"
    assert audit_value(42) == "42"
