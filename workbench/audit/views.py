from django.core.paginator import Paginator
from django.shortcuts import render

from workbench.audit.models import AuditAction
from workbench.audit.selectors import audit_events_for
from workbench.web.access import audit_required


@audit_required
def audit_list(request):
    request.workbench_section = "audit"
    events = audit_events_for(
        request.user,
        action=request.GET.get("action", ""),
        username=request.GET.get("username", "").strip(),
        object_type=request.GET.get("object_type", "").strip(),
        object_id=request.GET.get("object_id", "").strip(),
    )
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request, "audit/audit_list.html", {"page": page, "actions": AuditAction.choices, "query": query.urlencode()}
    )
