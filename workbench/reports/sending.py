"""Weekly and monthly reports pushed to managers as WeCom app messages (markdown with a link to the dashboard).

Every team lead, branch manager and head-office admin with a WeCom account gets one message per period with
their scope's key figures. The sequence is the delivery engine's: plan a `ReportDispatch` row per manager
(unique on manager, kind and period) before any call, claim it by a conditional update, call WeCom, record the
answer. A re-run finds the rows already sent and sends nothing; a transient error (or our own per-member limiter)
puts the row back with a later `next_attempt_at`; a permanent error is recorded and never retried.

Beat runs `send_due` on Mondays and on the 1st at 08:30 and every 2 minutes as a catch-up, so a manager who
joins mid-week, or a workbench started on a Wednesday, gets the last closed week's report on the next tick.
"""

import logging
from collections import Counter
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComError, WeComRateLimited
from workbench.org.models import Operator
from workbench.org.roles import POLICIES, Role, Scope
from workbench.reports import selectors
from workbench.reports.models import ReportDispatch
from workbench.reports.periods import Period, last_month, last_week

logger = logging.getLogger(__name__)

MANAGER_ROLES = (Role.TEAM_LEAD, Role.BRANCH_MANAGER, Role.HEAD_OFFICE_ADMIN)
SEND_AT = time(8, 30)  # Monday (weekly) and the 1st (monthly), China time
MAX_ATTEMPTS = 6
RETRY_BASE = timedelta(minutes=5)
RETRY_CAP = timedelta(hours=1)
# A row claimed this long ago without an answer was interrupted mid-call: WeCom may or may not have delivered it,
# so it is marked failed rather than sent again.
STALE_CLAIM = timedelta(hours=1)
PER_TICK = 500


def due_period(kind: str, now: datetime) -> Period:
    """The last closed period whose send time (08:30 on Monday or the 1st) has passed."""
    local = timezone.localtime(now)
    today = local.date()
    early = local.time() < SEND_AT
    if kind == ReportDispatch.Kind.WEEKLY:
        period = last_week(today)
        return last_week(period.start) if early and today.weekday() == 0 else period
    period = last_month(today)
    return last_month(period.start) if early and today.day == 1 else period


def managers():
    return (
        Operator.objects.filter(status=Operator.Status.ACTIVE, role__in=MANAGER_ROLES, wecom_userid__isnull=False)
        .exclude(wecom_userid="")
        .select_related("branch")
    )


def is_manager(operator: Operator | None) -> bool:
    return operator is not None and operator.role in MANAGER_ROLES


def reports_plan(*, kind: str, period: Period, now: datetime, manager_ids=None) -> int:
    """One row per manager for the period; rows that exist are left alone. Returns how many were new."""
    recipients = managers()
    if manager_ids is not None:
        recipients = recipients.filter(pk__in=list(manager_ids))
    rows = [
        ReportDispatch(
            manager=manager, kind=kind, period_start=period.start, period_end=period.end, next_attempt_at=now
        )
        for manager in recipients
    ]
    before = ReportDispatch.objects.filter(kind=kind, period_start=period.start).count()
    ReportDispatch.objects.bulk_create(rows, ignore_conflicts=True)
    return ReportDispatch.objects.filter(kind=kind, period_start=period.start).count() - before


def reports_send_due(*, kinds=None, now: datetime | None = None) -> Counter:
    now = now or timezone.now()
    stats: Counter = Counter()
    for kind in kinds or ReportDispatch.Kind.values:
        stats[f"planned_{kind}"] += reports_plan(kind=kind, period=due_period(kind, now), now=now)
    return stats + reports_send_pending(now=now)


def reports_send_pending(*, now: datetime | None = None) -> Counter:
    now = now or timezone.now()
    stats: Counter = Counter()
    stats["interrupted"] = ReportDispatch.objects.filter(
        status=ReportDispatch.Status.SENDING, claimed_at__lt=now - STALE_CLAIM
    ).update(status=ReportDispatch.Status.FAILED, error="interrupted during the call; not sent again")
    due = ReportDispatch.objects.filter(status=ReportDispatch.Status.PENDING, next_attempt_at__lte=now)
    pks = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:PER_TICK])
    client = get_client() if pks else None
    for pk in pks:
        stats[dispatch_send(pk=pk, client=client, now=now)] += 1
    return +stats


def report_send_now(*, manager: Operator, kind: str, now: datetime | None = None) -> ReportDispatch:
    """The button and the command: the manager's report for the last closed period, sent now unless it was."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    period = last_week(today) if kind == ReportDispatch.Kind.WEEKLY else last_month(today)
    reports_plan(kind=kind, period=period, now=now, manager_ids=[manager.pk])
    dispatch = ReportDispatch.objects.filter(manager=manager, kind=kind, period_start=period.start).first()
    if dispatch is None:
        raise ValueError(f"{manager} receives no reports (no WeCom account, or not a manager).")
    if dispatch.status == ReportDispatch.Status.PENDING:
        ReportDispatch.objects.filter(pk=dispatch.pk).update(next_attempt_at=now)
        dispatch_send(pk=dispatch.pk, client=get_client(), now=now)
        dispatch.refresh_from_db()
    return dispatch


def _retry_later(dispatch: ReportDispatch, now: datetime, error: str, *, delay: timedelta | None = None) -> str:
    if dispatch.attempts >= MAX_ATTEMPTS:
        _finish(dispatch, ReportDispatch.Status.FAILED, error=error)
        return "failed"
    delay = delay or min(RETRY_CAP, RETRY_BASE * 2 ** (dispatch.attempts - 1))
    ReportDispatch.objects.filter(pk=dispatch.pk).update(
        status=ReportDispatch.Status.PENDING, next_attempt_at=now + delay, error=error[:255]
    )
    return "retry"


def _finish(dispatch: ReportDispatch, status: str, *, error: str = "", msgid: str = "", now=None) -> None:
    ReportDispatch.objects.filter(pk=dispatch.pk).update(status=status, error=error[:255], msgid=msgid, sent_at=now)


def dispatch_send(*, pk: int, client, now: datetime) -> str:
    claimed = ReportDispatch.objects.filter(pk=pk, status=ReportDispatch.Status.PENDING).update(
        status=ReportDispatch.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return "skipped"  # another worker has it, or it was sent meanwhile
    dispatch = ReportDispatch.objects.select_related("manager__branch").get(pk=pk)
    manager = dispatch.manager
    if not manager.is_active or not manager.wecom_userid or manager.role not in MANAGER_ROLES:
        _finish(dispatch, ReportDispatch.Status.FAILED, error="no longer a manager with a WeCom account")
        return "failed"
    content = compose(dispatch)
    try:
        answer = client.send_app_message([manager.wecom_userid], "markdown", {"content": content})
    except WeComRateLimited as exc:  # nothing was sent: not an attempt
        ReportDispatch.objects.filter(pk=pk).update(attempts=F("attempts") - 1)
        dispatch.attempts -= 1
        return _retry_later(dispatch, now, str(exc), delay=timedelta(seconds=max(60, exc.retry_after)))
    except WeComError as exc:
        logger.info("report %s to %s not sent: %s", pk, manager.wecom_userid, exc)
        if exc.maybe_done:  # no answer, but WeCom may have delivered it: at most once, so not again
            _finish(dispatch, ReportDispatch.Status.FAILED, error=f"WeCom's answer was lost; maybe delivered: {exc}")
            return "failed"
        if exc.transient:
            return _retry_later(dispatch, now, str(exc))
        _finish(dispatch, ReportDispatch.Status.FAILED, error=str(exc))
        return "failed"
    if manager.wecom_userid in str(answer.get("invaliduser") or "").split("|"):
        _finish(dispatch, ReportDispatch.Status.FAILED, error="WeCom: not a member of the app")
        return "failed"
    _finish(dispatch, ReportDispatch.Status.SENT, msgid=str(answer.get("msgid") or ""), now=timezone.now())
    return "sent"


# --- the message --------------------------------------------------------------------------------------------------


def manager_node(manager: Operator) -> selectors.Node:
    """The manager's data scope as a report node: the bank for head office, else their branch subtree."""
    if POLICIES[manager.role].scope == Scope.BANK:
        return selectors.bank_node()
    return selectors.branch_node(manager.branch)


def dashboard_url(node: selectors.Node, period: Period) -> str:
    path = reverse("reports:branch", args=[node.branch.pk]) if node.branch is not None else reverse("reports:index")
    return f"{settings.TRACKED_LINK_BASE_URL}{path}?{urlencode(period.as_params())}"


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def compose(dispatch: ReportDispatch) -> str:
    """Markdown (≤ 2,048 bytes): title, the scope's key figures, the three best children, the dashboard link."""
    period = Period("custom", dispatch.period_start, dispatch.period_end)
    node = manager_node(dispatch.manager)
    figures, ranked = selectors.overview(node, period, metric="conversions")
    best = [child for child in ranked[:3] if child["conversions"]]
    with translation.override(settings.LANGUAGE_CODE):
        title = _("Weekly report") if dispatch.kind == ReportDispatch.Kind.WEEKLY else _("Monthly report")
        lines = [
            f"**{title} · {node.name}**",
            f"{period.start:%Y-%m-%d} – {period.end:%Y-%m-%d}",
            "> "
            + _("Customers: %(n)s (new %(new)s, lost %(lost)s)")
            % {"n": f"{figures['customers_owned']:,}", "new": figures["customers_new"], "lost": figures["lost"]},
            "> " + _("Effective-customer ratio: %(v)s") % {"v": _percent(figures["effective_ratio"])},
            "> " + _("Tasks on time: %(v)s") % {"v": _percent(figures["on_time_rate"])},
            "> " + _("Mass sends confirmed: %(v)s") % {"v": _percent(figures["confirm_rate"])},
            "> " + _("Replies within 5 minutes: %(v)s") % {"v": _percent(figures["reply_5min_rate"])},
            "> "
            + _("Clicks %(clicks)s · conversions %(conv)s · AUM converted %(aum)s yuan")
            % {
                "clicks": f"{figures['clicks']:,}",
                "conv": f"{figures['conversions']:,}",
                "aum": f"{figures['conversion_amount']:,.0f}",
            },
        ]
        if best:
            names = "、".join(f"{child['name']}（{child['conversions']}）" for child in best)
            lines.append("> " + _("Most conversions: %(names)s") % {"names": names})
        link_text = _("Open the dashboard")
        lines.append(f"[{link_text}]({dashboard_url(node, period)})")
    content = "\n".join(lines)
    return content.encode()[:2048].decode(errors="ignore")
