"""Reads of the delivery engine: funnels, send tasks and operator tasks within the viewer's data scope, the rows the
customer timeline shows.

Scope: operator tasks are seen by whoever sees their operator (`visible_operators`: an operator their own, a lead
or manager their subtree's, head office all) and, when a task names a customer, only if that customer is visible
too; send tasks and funnels by whoever sees the sender.
"""

import hashlib
from datetime import timedelta

from django.apps import apps
from django.core.cache import cache
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.delivery.models import ContactPreference, Delivery, OperatorTask, Reason, SendTask, Suppression
from workbench.org.roles import Scope
from workbench.org.scope import viewer_for, visible_customers, visible_operators

FUNNEL_CACHE_SECONDS = 10


# --- funnels ------------------------------------------------------------------------------------------------------


def delivery_funnel(*, source_kind: str, source_id: int, operator_ids=None) -> dict:
    """planned → suppressed → submitted → confirmed → delivered → clicked → converted for one source (a playbook,
    a broadcast …), optionally only for some senders (a branch's view). Cached for a few seconds: at a million
    deliveries the counts take a moment."""
    scope_key = "all" if operator_ids is None else ",".join(map(str, sorted(operator_ids)))
    digest = hashlib.sha256(scope_key.encode()).hexdigest()[:16]
    key = f"delivery:funnel:{source_kind}:{source_id}:{digest}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    funnel = _funnel(source_kind, source_id, operator_ids)
    cache.set(key, funnel, FUNNEL_CACHE_SECONDS)
    return funnel


def _funnel(source_kind: str, source_id: int, operator_ids) -> dict:
    from campaigns.delivery.policy import get_policy
    from campaigns.links.models import LinkClick, TrackedLink
    from workbench.supervision.models import Attribution

    deliveries = Delivery.objects.filter(source_kind=source_kind, source_id=source_id)
    tasks = SendTask.objects.filter(source_kind=source_kind, source_id=source_id)
    if operator_ids is not None:
        deliveries = deliveries.filter(sender_id__in=list(operator_ids))
        tasks = tasks.filter(sender_id__in=list(operator_ids))
    by_status = dict(deliveries.order_by().values_list("status").annotate(n=Count("pk")))
    reasons = {
        f"{status}:{reason}": n
        for status, reason, n in deliveries.exclude(reason="")
        .order_by()
        .values_list("status", "reason")
        .annotate(n=Count("pk"))
    }
    accepted = tasks.aggregate(
        submitted=Sum("accepted", filter=Q(msgid__isnull=False) | Q(submitted_at__isnull=False)),
        confirmed=Sum("accepted", filter=Q(confirmed_at__isnull=False)),
        tasks=Count("pk"),
        tasks_open=Count("pk", filter=Q(status__in=SendTask.OPEN)),
    )
    clicked = (
        LinkClick.objects.filter(
            link__context=TrackedLink.Context.PLAYBOOK, link__context_id__in=tasks.values("pk")
        ).aggregate(n=Count("visitor", distinct=True))["n"]
        or 0
    )
    # Conversions by the one attribution rule (supervision): purchases credited to this source's last touch.
    credited = Attribution.objects.filter(source_kind=source_kind, source_id=source_id)
    if operator_ids is not None:
        credited = credited.filter(operator_id__in=list(operator_ids))
    converted = credited.values("customer_id").distinct().count()
    window = timedelta(days=get_policy().conversion_window_days)
    total = sum(by_status.values())
    return {
        "planned": total,
        "suppressed": by_status.get(Delivery.Status.SUPPRESSED, 0),
        "waiting": by_status.get(Delivery.Status.PLANNED, 0) + by_status.get(Delivery.Status.QUEUED, 0),
        "submitted": accepted["submitted"] or 0,
        "confirmed": accepted["confirmed"] or 0,
        "delivered": by_status.get(Delivery.Status.DELIVERED, 0),
        "failed": by_status.get(Delivery.Status.FAILED, 0),
        "cancelled": by_status.get(Delivery.Status.CANCELLED, 0),
        "clicked": clicked,
        "converted": converted,
        "tasks": accepted["tasks"] or 0,
        "tasks_open": accepted["tasks_open"] or 0,
        "reasons": reasons,
        "conversion_window_days": window.days,
    }


def funnel_for(user, *, source_kind: str, source_id: int) -> dict:
    """The funnel as this user may see it: whole bank, or the deliveries of the senders in their scope."""
    return delivery_funnel(source_kind=source_kind, source_id=source_id, operator_ids=_operator_ids(user))


def funnel_steps(funnel: dict) -> list[tuple[str, str, int, int]]:
    """(key, label, count, percent of planned) rows for the funnel partial."""
    labels = [
        ("planned", _("Planned")),
        ("suppressed", _("Suppressed by the contact policy")),
        ("submitted", _("Submitted to WeCom")),
        ("confirmed", _("Confirmed by operators")),
        ("delivered", _("Delivered")),
        ("clicked", _("Clicked")),
        ("converted", _("Converted")),
    ]
    base = funnel.get("planned") or 0
    return [
        (key, label, funnel.get(key, 0), round(100 * funnel.get(key, 0) / base) if base else 0) for key, label in labels
    ]


def reason_rows(funnel: dict) -> list[tuple[str, str, int]]:
    rows = []
    for key, n in sorted(funnel.get("reasons", {}).items(), key=lambda item: -item[1]):
        status, reason = key.split(":", 1)
        label = Reason(reason).label if reason in Reason.values else reason
        rows.append((Delivery.Status(status).label if status in Delivery.Status.values else status, label, n))
    return rows


def _operator_ids(user) -> list[int] | None:
    if viewer_for(user).scope == Scope.BANK:
        return None
    return list(visible_operators(user).values_list("pk", flat=True))


# --- sources and send tasks ----------------------------------------------------------------------------------------


# What a source_kind names: playbooks send with source_kind "playbook" and the published version's id.
SOURCE_MODELS = {"playbook": ("playbooks", "PlaybookVersion")}


def source_label(source_kind: str, source_id: int) -> str:
    """What a source is called (the playbook version's own name), else "kind #id"."""
    app_label, model_name = SOURCE_MODELS.get(source_kind, ("playbooks", source_kind.capitalize()))
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        model = None
    if model is not None:
        obj = model.objects.filter(pk=source_id).first()
        if obj is not None:
            return str(obj)
    return f"{source_kind} #{source_id}"


def visible_send_tasks(user) -> QuerySet[SendTask]:
    tasks = SendTask.objects.all()
    if viewer_for(user).scope == Scope.BANK:
        return tasks
    return tasks.filter(sender__in=visible_operators(user))


def recent_sources(user, *, limit: int = 50) -> list[dict]:
    rows = (
        visible_send_tasks(user)
        .order_by()
        .values("source_kind", "source_id")
        .annotate(
            tasks=Count("pk"),
            recipients=Sum("recipients"),
            open=Count("pk", filter=Q(status__in=SendTask.OPEN)),
            last=Max("created_at"),
        )
        .order_by("-last")[:limit]
    )
    return [row | {"label": source_label(row["source_kind"], row["source_id"])} for row in rows]


def send_tasks_of_source(user, *, source_kind: str, source_id: int) -> QuerySet[SendTask]:
    return (
        visible_send_tasks(user)
        .filter(source_kind=source_kind, source_id=source_id)
        .select_related("sender", "content_version__item")
        .order_by("-created_at", "-pk")
    )


def task_delivery_counts(task_ids) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {}
    for task_id, status, n in (
        Delivery.objects.filter(send_task_id__in=list(task_ids))
        .order_by()
        .values_list("send_task_id", "status")
        .annotate(n=Count("pk"))
    ):
        counts.setdefault(task_id, {})[status] = n
    return counts


# --- operator tasks ---------------------------------------------------------------------------------------------------


def visible_operator_tasks(user) -> QuerySet[OperatorTask]:
    viewer = viewer_for(user)
    tasks = OperatorTask.objects.all()
    if viewer.scope == Scope.BANK:
        return tasks
    if viewer.scope == Scope.SELF:
        return tasks.filter(operator=viewer.operator)
    if viewer.scope == Scope.BRANCH:
        return tasks.filter(operator__in=visible_operators(user)).filter(
            Q(customer__isnull=True) | Q(customer__in=visible_customers(user).values("pk"))
        )
    return tasks.none()


def get_visible_operator_task(user, pk) -> OperatorTask:
    try:
        return visible_operator_tasks(user).select_related("operator", "customer").get(pk=pk)
    except (OperatorTask.DoesNotExist, ValueError, TypeError):
        raise Http404("No such task.") from None


def today_tasks(user, *, operator_id=None, kind: str = "", state: str = "due", now=None) -> QuerySet[OperatorTask]:
    """The 今日待办 list. `state`: due (open or postponed, due by the end of today: overdue ones included), overdue,
    done (done today), upcoming (due later), all."""
    from campaigns.delivery.policy import end_of_day

    now = now or timezone.now()
    tasks = visible_operator_tasks(user).select_related("operator", "customer")
    if operator_id:
        tasks = tasks.filter(operator_id=operator_id)
    if kind in OperatorTask.Kind.values:
        tasks = tasks.filter(kind=kind)
    day_end = end_of_day(now)
    day_start = day_end - timedelta(days=1)
    if state == "overdue":
        tasks = tasks.filter(status__in=OperatorTask.PENDING, due_at__lt=now)
    elif state == "done":
        tasks = tasks.filter(status=OperatorTask.Status.DONE, done_at__gte=day_start)
    elif state == "upcoming":
        tasks = tasks.filter(status__in=OperatorTask.PENDING, due_at__gte=day_end)
    elif state != "all":
        tasks = tasks.filter(status__in=OperatorTask.PENDING, due_at__lt=day_end)
    return tasks.order_by("due_at", "pk") if state != "done" else tasks.order_by("-done_at", "-pk")


def task_summary(user, *, now=None) -> dict:
    from campaigns.delivery.policy import end_of_day

    now = now or timezone.now()
    day_end = end_of_day(now)
    tasks = visible_operator_tasks(user)
    return tasks.aggregate(
        due=Count("pk", filter=Q(status__in=OperatorTask.PENDING, due_at__lt=day_end)),
        overdue=Count("pk", filter=Q(status__in=OperatorTask.PENDING, due_at__lt=now)),
        done=Count("pk", filter=Q(status=OperatorTask.Status.DONE, done_at__gte=day_end - timedelta(days=1))),
    )


# --- the customer page -----------------------------------------------------------------------------------------------


def preference_of(customer) -> ContactPreference | None:
    return ContactPreference.objects.filter(customer_id=customer.pk).first()


def timeline_entries(customer, *, limit: int = 100) -> list[tuple]:
    """(at, kind, summary, operator name) rows for the customer timeline: mass messages with their outcome, what
    the contact policy held back or deferred, operator tasks done."""
    entries = []
    deliveries = (
        Delivery.objects.filter(customer=customer)
        .exclude(status__in=[Delivery.Status.PLANNED, Delivery.Status.SUPPRESSED])
        .select_related("sender", "content_version__item")
        .order_by("-due_at")[:limit]
    )
    for delivery in deliveries:
        summary = f"{delivery.content_version.item.title} · {delivery.get_status_display()}"
        if delivery.reason:
            summary += f" ({delivery.get_reason_display()})"
        sender = delivery.sender.name if delivery.sender else ""
        entries.append((delivery.result_at or delivery.due_at, "mass_message", summary, sender))
    for row in Suppression.objects.filter(customer=customer).order_by("-at")[:limit]:
        source = source_label(row.source_kind, row.source_id)
        summary = f"{row.get_action_display()}: {row.get_reason_display()} · {source}"
        if row.until:
            summary += " → " + timezone.localtime(row.until).strftime("%Y-%m-%d %H:%M")
        entries.append((row.at, "contact_held", summary, ""))
    for task in (
        OperatorTask.objects.filter(customer=customer, status=OperatorTask.Status.DONE)
        .select_related("operator")
        .order_by("-done_at")[:limit]
    ):
        summary = f"{task.title} · {task.get_outcome_display() or task.get_status_display()}"
        if task.outcome_note:
            summary += f": {task.outcome_note}"
        entries.append((task.done_at, "operator_task", summary, task.operator.name))
    return entries
