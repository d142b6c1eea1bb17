"""The WeCom pages: sync start and progress, unmatched contacts, transfers end to end against the sandbox."""

import pytest
from django.urls import reverse

from integrations.wecom import tasks
from integrations.wecom.models import ContactTransfer, SyncRun
from integrations.wecom.transfers import poll_transfer_results
from tagging.models import Customer
from tests.factories import CustomerFactory
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures
from workbench.audit.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


def _seed_bank_corp(sandbox, bank):  # noqa: F811
    """The sandbox corp holds the test bank's members and a_own as operator_a's contact."""
    ops = bank.operators
    a_own = bank.customers["a_own"]
    sandbox.seed(
        {
            "departments": [{"id": 1, "name": "示范银行总行", "parentid": 0}],
            "members": [{"userid": persona, "name": ops[persona].name, "department": [1]} for persona in ops],
            "contacts": [{"external_userid": a_own.external_userid, "name": a_own.name}],
            "follows": [{"userid": "operator_a", "external_userid": a_own.external_userid}],
        }
    )


def test_admin_starts_a_sync_and_watches_its_progress(bank, login, sandbox):  # noqa: F811
    _seed_bank_corp(sandbox, bank)
    client = login("admin")
    assert client.post(reverse("wecom:sync-start"), {"kind": "full"}).status_code == 302
    run = SyncRun.objects.get()
    assert (run.kind, run.status, run.requested_by) == ("full", "queued", bank.user("admin"))
    assert AuditEvent.objects.filter(action=AuditAction.WECOM_SYNC_STARTED).exists()
    assert client.post(reverse("wecom:sync-start"), {"kind": "full"}).status_code == 302
    assert SyncRun.objects.count() == 1  # one at a time
    queued = client.get(reverse("wecom:sync-progress", args=[run.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in queued
    tasks.run_sync.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    done = client.get(reverse("wecom:sync-progress", args=[run.pk])).content.decode()
    assert "every 2s" not in done and "100%" in done
    page = client.get(reverse("wecom:overview"))
    assert page.status_code == 200 and run in page.context["syncs"]


def test_unmatched_contacts_are_linked_by_customer_number(bank, login):
    contact = CustomerFactory(customer_no=None, external_userid="wmLOOSE", owner=bank.operators["operator_a"])
    target = CustomerFactory(customer_no="CA0000000099", external_userid=None, owner=bank.operators["operator_a"])
    client = login("admin")
    page = client.get(reverse("wecom:unmatched"))
    assert [c.pk for c in page.context["page"]] == [contact.pk]
    bad = client.post(reverse("wecom:unmatched-link", args=[contact.pk]), {"customer_no": "CB0000000001"}, follow=True)
    assert "already linked" in bad.content.decode() or "已" in bad.content.decode()
    client.post(reverse("wecom:unmatched-link", args=[contact.pk]), {"customer_no": "ca0000000099"})
    target.refresh_from_db()
    assert target.external_userid == "wmLOOSE"
    assert not Customer.objects.filter(pk=contact.pk).exists()
    assert AuditEvent.objects.filter(action=AuditAction.WECOM_CONTACT_LINKED, object_id=str(target.pk)).exists()


def test_a_manager_transfers_a_customer_and_the_owner_changes_on_success(bank, login, sandbox):  # noqa: F811
    _seed_bank_corp(sandbox, bank)
    a_own = bank.customers["a_own"]
    client = login("manager_a")
    form_page = client.get(reverse("wecom:transfers"))
    takeover_choices = {op.pk for op in form_page.context["form"].fields["takeover"].queryset}
    assert bank.operators["operator_b"].pk not in takeover_choices
    response = client.post(
        reverse("wecom:transfers"),
        {
            "handover": bank.operators["operator_a"].pk,
            "takeover": bank.operators["operator_a2"].pk,
            "customer_numbers": a_own.customer_no,
            "message": "换位经理为您服务",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    transfer = ContactTransfer.objects.get()
    assert (transfer.status, transfer.kind) == ("waiting", "on_the_job")
    assert AuditEvent.objects.filter(action=AuditAction.TRANSFER_REQUESTED).exists()
    assert poll_transfer_results() == 0  # WeCom is still waiting for the 24 hours
    a_own.refresh_from_db()
    assert a_own.owner == bank.operators["operator_a"]
    sandbox.complete_transfers()
    assert poll_transfer_results() == 1
    a_own.refresh_from_db()
    transfer.refresh_from_db()
    assert transfer.status == "succeeded" and a_own.owner == bank.operators["operator_a2"]
    listed = client.get(reverse("wecom:transfers")).content.decode()
    assert a_own.name in listed


def test_a_transfer_wecom_refuses_is_recorded_with_its_errcode(bank, login, sandbox):  # noqa: F811
    _seed_bank_corp(sandbox, bank)
    sandbox.seed(
        {
            "departments": [{"id": 1, "name": "示范银行总行", "parentid": 0}],
            "members": [{"userid": p, "name": p, "department": [1]} for p in ("operator_a", "operator_a2")],
        }
    )  # the contact is gone from WeCom: it answers per customer with an errcode
    login("manager_a").post(
        reverse("wecom:transfers"),
        {"handover": bank.operators["operator_a"].pk, "takeover": bank.operators["operator_a2"].pk},
    )
    transfer = ContactTransfer.objects.get(customer=bank.customers["a_own"])
    assert transfer.status == "rejected" and transfer.errcode
