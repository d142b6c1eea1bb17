"""Pages of the delivery engine: 今日待办 (operator tasks), mass sends per source with their funnel, the contact
policy (head-office admins) and a customer's do-not-disturb. Thin: forms → services, selectors → templates."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.delivery import policy, selectors, services
from campaigns.delivery.forms import DndForm, PolicyForm, TaskDoneForm, TaskPostponeForm
from campaigns.delivery.models import OperatorTask
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.org.roles import Role, Scope
from workbench.org.scope import get_visible_customer, viewer_for, visible_operators
from workbench.web.access import _requires, staff_required

policy_admin_required = _requires(lambda user: viewer_for(user).policy.may_manage_contact_policy)


def may_set_dnd(user) -> bool:
    """Staff who look after customers record a customer's do-not-disturb; compliance reads, it does not act."""
    viewer = viewer_for(user)
    if viewer.scope == Scope.NONE:
        return False
    return viewer.operator is None or viewer.operator.role != Role.COMPLIANCE_REVIEWER


TASK_STATES = ("due", "overdue", "upcoming", "done", "all")


# --- 今日待办 --------------------------------------------------------------------------------------------------------


@staff_required
def tasks_today(request):
    request.workbench_section = "tasks"
    viewer = viewer_for(request.user)
    state = request.GET.get("state") if request.GET.get("state") in TASK_STATES else "due"
    kind = request.GET.get("kind", "")
    operators = None
    operator_id = None
    if viewer.scope != Scope.SELF:
        operators = visible_operators(request.user).filter(status="active").order_by("branch__path", "name")
        raw = request.GET.get("operator", "")
        operator_id = int(raw) if raw.isdigit() and operators.filter(pk=int(raw)).exists() else None
    now = timezone.now()
    tasks = selectors.today_tasks(request.user, operator_id=operator_id, kind=kind, state=state, now=now)
    page = Paginator(tasks, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "state": state,
        "kind": kind,
        "kinds": OperatorTask.Kind.choices,
        "operators": operators,
        "operator_id": operator_id,
        "summary": selectors.task_summary(request.user, now=now),
        "now": now,
        "outcomes": OperatorTask.Outcome.choices,
        "states": [
            ("due", _("Due today")),
            ("overdue", _("Overdue")),
            ("upcoming", _("Later")),
            ("done", _("Done today")),
            ("all", _("All")),
        ],
    }
    return render(request, "delivery/tasks_today.html", context)


def _task_response(request, task, *, error: str = ""):
    if request.htmx:
        return render(
            request,
            "delivery/_task_row.html",
            {"task": task, "now": timezone.now(), "outcomes": OperatorTask.Outcome.choices, "error": error},
            status=400 if error else 200,
        )
    if error:
        messages.error(request, error)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("delivery:tasks-today")  # `next` comes from the form: never a redirect off the workbench
    return redirect(back)


@staff_required
@require_POST
def task_done(request, pk):
    task = selectors.get_visible_operator_task(request.user, pk)
    form = TaskDoneForm(request.POST)
    if not form.is_valid():
        return _task_response(request, task, error=_("Choose an outcome."))
    try:
        services.task_done(
            task=task, actor=request.user, outcome=form.cleaned_data["outcome"], note=form.cleaned_data["note"]
        )
    except services.DeliveryError as exc:
        return _task_response(request, task, error=str(exc))
    return _task_response(request, task)


@staff_required
@require_POST
def task_postpone(request, pk):
    task = selectors.get_visible_operator_task(request.user, pk)
    form = TaskPostponeForm(request.POST)
    if not form.is_valid():
        return _task_response(request, task, error=" ".join(e for errors in form.errors.values() for e in errors))
    try:
        services.task_postpone(
            task=task, actor=request.user, until=form.cleaned_data["until"], note=form.cleaned_data["note"]
        )
    except services.DeliveryError as exc:
        return _task_response(request, task, error=str(exc))
    return _task_response(request, task)


# --- mass sends per source ---------------------------------------------------------------------------------------


@staff_required
def sources(request):
    request.workbench_section = "deliveries"
    return render(request, "delivery/sources.html", {"sources": selectors.recent_sources(request.user)})


@staff_required
def source(request, source_kind, source_id):
    request.workbench_section = "deliveries"
    tasks = selectors.send_tasks_of_source(request.user, source_kind=source_kind, source_id=source_id)
    page = Paginator(tasks, 50).get_page(request.GET.get("page"))
    funnel = selectors.funnel_for(request.user, source_kind=source_kind, source_id=source_id)
    context = {
        "source_kind": source_kind,
        "source_id": source_id,
        "label": selectors.source_label(source_kind, source_id),
        "funnel": funnel,
        "reasons": selectors.reason_rows(funnel),
        "page": page,
        "counts": selectors.task_delivery_counts([task.pk for task in page.object_list]),
    }
    return render(request, "delivery/source.html", context)


@staff_required
def source_funnel(request, source_kind, source_id):
    """The htmx fragment polled while a source's mass sends are under way."""
    funnel = selectors.funnel_for(request.user, source_kind=source_kind, source_id=source_id)
    poll_url = reverse("delivery:source-funnel", args=[source_kind, source_id])
    return render(request, "delivery/_funnel.html", {"funnel": funnel, "poll_url": poll_url})


# --- the contact policy -------------------------------------------------------------------------------------------


@policy_admin_required
def policy_edit(request):
    request.workbench_section = "contact-policy"
    current = policy.get_policy()
    form = PolicyForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        before = {name: str(getattr(current, name)) for name in form.fields}
        updated = policy.policy_update(actor=request.user, **form.cleaned_data)
        after = {name: str(getattr(updated, name)) for name in form.fields}
        audit_record(
            actor=request.user,
            action=AuditAction.CONTACT_POLICY_CHANGED,
            obj=updated,
            detail={name: [before[name], after[name]] for name in after if before[name] != after[name]},
        )
        messages.success(request, _("The contact policy is saved; it applies to every message from now on."))
        return redirect("delivery:policy")
    return render(request, "delivery/policy.html", {"form": form, "policy": current})


# --- a customer's do-not-disturb -------------------------------------------------------------------------------------


@staff_required
@require_POST
def customer_dnd(request, customer_id):
    customer = get_visible_customer(request.user, customer_id)
    if not may_set_dnd(request.user):
        raise PermissionDenied
    form = DndForm(request.POST)
    if form.is_valid():
        preference = policy.set_dnd(
            customer, form.cleaned_data["on"], actor=request.user, reason=form.cleaned_data["reason"]
        )
        audit_record(
            actor=request.user,
            action=AuditAction.CONTACT_PREFERENCE_CHANGED,
            obj=customer,
            detail={"dnd": preference.dnd, "reason": preference.reason},
        )
    if request.htmx:
        return render(
            request,
            "delivery/_dnd_card.html",
            {"customer": customer, "preference": selectors.preference_of(customer), "request": request},
        )
    return redirect("customers:detail", customer.pk)
