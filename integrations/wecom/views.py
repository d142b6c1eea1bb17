"""WeCom pages: sync status and start (admins), unmatched contacts to link (admins), transfers (managers)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from integrations.wecom import contacts, selectors
from integrations.wecom.forms import LinkContactForm, TransferForm
from integrations.wecom.models import SyncRun
from integrations.wecom.tasks import start_sync
from integrations.wecom.transfers import TransferError, request_transfers
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.org.scope import get_visible_customer
from workbench.web.access import transfer_required, wecom_admin_required


@wecom_admin_required
def overview(request):
    request.workbench_section = "wecom"
    context = {
        "syncs": selectors.recent_syncs(),
        "callbacks": selectors.callback_summary(),
        "tag_groups": selectors.corp_tag_groups(),
        "unmatched_count": selectors.unmatched_contacts(request.user).count(),
    }
    return render(request, "wecom/overview.html", context)


@wecom_admin_required
@require_POST
def sync_start(request):
    kind = SyncRun.Kind.FULL if request.POST.get("kind") == SyncRun.Kind.FULL else SyncRun.Kind.INCREMENTAL
    run = start_sync(kind=kind, requested_by=request.user)
    audit_record(actor=request.user, action=AuditAction.WECOM_SYNC_STARTED, obj=run, detail={"kind": kind})
    if run.kind != kind or run.requested_by_id != request.user.pk:
        messages.info(request, _("A sync is already under way; its progress is shown below."))
    else:
        messages.success(request, _("Sync #%(id)s started.") % {"id": run.pk})
    return redirect("wecom:overview")


@wecom_admin_required
def sync_progress(request, pk):
    """The htmx fragment polled while a sync runs."""
    return render(request, "wecom/_sync_row.html", {"run": get_object_or_404(SyncRun, pk=pk)})


@wecom_admin_required
def unmatched_list(request):
    request.workbench_section = "wecom"
    page = Paginator(selectors.unmatched_contacts(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "wecom/unmatched.html", {"page": page, "form": LinkContactForm()})


@wecom_admin_required
@require_POST
def unmatched_link(request, pk):
    contact = get_visible_customer(request.user, pk)
    form = LinkContactForm(request.POST, user=request.user)
    if not contact.is_unmatched_contact:
        raise PermissionDenied
    if form.is_valid():
        customer = form.cleaned_data["customer"]
        try:
            contacts.link_contact(contact=contact, customer=customer, actor=request.user)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            audit_record(
                actor=request.user,
                action=AuditAction.WECOM_CONTACT_LINKED,
                obj=customer,
                detail={"linked_external_userid": customer.external_userid},
            )
            messages.success(request, _("The WeCom contact is now linked to %(customer)s.") % {"customer": customer})
    else:
        messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
    return redirect("wecom:unmatched")


@transfer_required
def transfer_list(request):
    request.workbench_section = "transfers"
    form = TransferForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            rows = request_transfers(
                customers=form.cleaned_data["customers"],
                handover=form.cleaned_data["handover"],
                takeover=form.cleaned_data["takeover"],
                actor=request.user,
                message=form.cleaned_data["message"],
            )
        except TransferError as exc:
            form.add_error(None, str(exc))
        else:
            audit_record(
                actor=request.user,
                action=AuditAction.TRANSFER_REQUESTED,
                obj=form.cleaned_data["handover"],
                detail={"transfer_to": form.cleaned_data["takeover"].pk, "customers": len(rows)},
            )
            messages.success(request, _("%(n)s transfer requests recorded.") % {"n": len(rows)})
            return redirect("wecom:transfers")
    page = Paginator(selectors.transfers_for(request.user), 50).get_page(request.GET.get("page"))
    return render(request, "wecom/transfers.html", {"form": form, "page": page})
