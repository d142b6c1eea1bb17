"""Dashboards (bank → branch → team → operator), their Excel export and the send-now button. Thin: nodes come
from the scope-bound selectors (404 outside the viewer's scope), figures from `dashboard.build`."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from workbench.org.scope import viewer_for
from workbench.reports import selectors
from workbench.reports.dashboard import build
from workbench.reports.export import report_export_request
from workbench.reports.models import ReportDispatch
from workbench.reports.periods import period_from
from workbench.reports.sending import is_manager, report_send_now
from workbench.web.access import export_required, staff_required


def _render(request, node):
    request.workbench_section = "reports"
    return render(request, "reports/dashboard.html", build(request.user, node, request.GET))


@staff_required
def index(request):
    if request.GET.get("branch"):  # the branch filter: the chosen branch's dashboard, same period
        node = selectors.get_branch_node(request.user, request.GET["branch"])
        params = {key: value for key, value in request.GET.items() if key != "branch"}
        return redirect(f"{reverse('reports:branch', args=[node.branch.pk])}?{urlencode(params)}")
    return _render(request, selectors.top_node_for(request.user))


@staff_required
def branch(request, pk):
    return _render(request, selectors.get_branch_node(request.user, pk))


@staff_required
def operator(request, pk):
    return _render(request, selectors.get_operator_node(request.user, pk))


@export_required
@require_POST
def export(request):
    period = period_from(request.POST)
    job = report_export_request(user=request.user, node_key=request.POST.get("node", "top"), period=period)
    messages.success(request, _("The Excel report is being built (export #%(id)s).") % {"id": job.pk})
    return redirect("exports:list")


@staff_required
@require_POST
def send_now(request):
    manager = viewer_for(request.user).operator
    if not is_manager(manager):
        raise PermissionDenied
    kind = request.POST.get("kind")
    if kind not in ReportDispatch.Kind.values:
        kind = ReportDispatch.Kind.WEEKLY
    try:
        dispatch = report_send_now(manager=manager, kind=kind)
    except ValueError:
        messages.error(request, _("You have no WeCom account, so reports cannot be sent to you."))
        return redirect("reports:index")
    if dispatch.status == ReportDispatch.Status.SENT:
        messages.success(
            request,
            _("Your %(kind)s for %(start)s – %(end)s has been sent to WeCom.")
            % {"kind": dispatch.get_kind_display(), "start": dispatch.period_start, "end": dispatch.period_end},
        )
    elif dispatch.status == ReportDispatch.Status.PENDING:
        messages.warning(request, _("WeCom is busy; the report will be sent again in a few minutes."))
    else:
        messages.error(request, _("The report could not be sent: %(error)s") % {"error": dispatch.error})
    return redirect("reports:index")
