from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from tagging import customer360, customer_actions
from tagging.selectors import customer_detail, filter_choices, filtered_customers, keyset_page
from tagging.tags.selectors import customer_tag_history
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.exports.services import export_request
from workbench.org.scope import get_visible_customer, may_export, may_manage_playbooks, may_view_pii
from workbench.web.access import export_required, staff_required


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@staff_required
# The same URL answers with a fragment for htmx and a page otherwise: caches must keep them apart.
@vary_on_headers("HX-Request", "HX-Target")
def customer_list(request):
    request.workbench_section = "customers"
    customers, customer_filter = filtered_customers(request.user, request.GET, request=request)
    page = keyset_page(
        customers, after=_int_or_none(request.GET.get("after")), before=_int_or_none(request.GET.get("before"))
    )
    query = request.GET.copy()
    for key in ("after", "before"):
        query.pop(key, None)
    selected_owner = customer_filter.form.cleaned_data.get("owner") if customer_filter.is_bound else None
    context = {
        "filter": customer_filter,
        "choices": filter_choices(request.user, _int_or_none(request.GET.get("branch"))),
        "selected_branch": _int_or_none(request.GET.get("branch")),
        "selected_owner": selected_owner,
        "page": page,
        "query": query.urlencode(),
        "may_export": may_export(request.user),
    }
    template = (
        "tagging/_customer_rows.html"
        if request.htmx and request.htmx.target == "customer-results"
        else "tagging/customer_list.html"
    )
    return render(request, template, context)


@staff_required
# The timeline's "more" button asks the same URL for a fragment: caches must keep the two apart.
@vary_on_headers("HX-Request")
def customer_page(request, pk):
    """The customer 360: profile, tags, segments and playbooks, every touch, products and purchases, follows with
    their channel, notes; actions re-check scope and role in `tagging.customer_actions`."""
    request.workbench_section = "customers"
    customer = customer_detail(request.user, pk)
    timeline = customer360.timeline_page(customer, cursor=request.GET.get("before"))
    if request.htmx:
        return render(request, "tagging/_c360_timeline.html", {"customer": customer, "timeline": timeline})
    may_act = customer_actions.may_act_on_customers(request.user)
    channels = customer360.channel_of_follows(customer)
    follows = list(customer.follows.all())
    for follow in follows:
        follow.channel_add = channels.get(follow.pk)
    context = {
        "customer": customer,
        "follows": follows,
        "timeline": timeline,
        "may_view_pii": may_view_pii(request.user),
        "may_act": may_act,
        "tag_history": customer_tag_history(customer, limit=10),
        "segments": customer360.segments_of(request.user, customer),
        "purchases": customer360.purchases_of(customer),
        "notes": customer360.notes_of(customer),
        **customer_actions.task_card_context(customer, may_act=may_act),
        **customer_actions.journey_card_context(customer, may_enrol=may_manage_playbooks(request.user)),
    }
    return render(request, "tagging/customer_detail.html", context)


@staff_required
@require_POST
def customer_reveal_pii(request, pk):
    """Full mobile and ID number, for roles allowed to see them; every reveal is in the audit log."""
    customer = get_visible_customer(request.user, pk)
    if not may_view_pii(request.user):
        raise PermissionDenied
    audit_record(
        actor=request.user,
        action=AuditAction.PII_VIEW,
        obj=customer,
        detail={"fields": ["mobile", "id_number"], "via": "web"},
    )
    return render(request, "tagging/_pii_revealed.html", {"customer": customer})


@export_required
@require_POST
def customer_export(request):
    file_format = request.POST.get("format", "xlsx")
    job = export_request(user=request.user, kind="customers", file_format=file_format, params=request.POST.dict())
    messages.success(request, _("Export #%(id)s started; it appears below when ready.") % {"id": job.pk})
    return redirect("exports:list")
