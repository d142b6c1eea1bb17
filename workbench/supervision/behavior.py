"""Fetching WeCom's member behaviour data (`externalcontact/get_user_behavior_data`) into `BehaviorDay`.

WeCom answers one row per day for the userids of a call, *summed over them* (DOC-96358; the sandbox does the
same), so a member's own figures take one call per member. A call covers at most 30 days (and only the last
180), so each member's missing days are asked for in spans of ≤ 30 consecutive days.

What is missing is what has no row: every day a call answered gets a row (zeros when WeCom listed nothing), so
a day not fetched — the run stopped, WeCom refused with 45033 or was down — is simply asked for again by the
next run. A transient failure (45033 concurrency, 45009 frequency, -1, 5xx, timeouts; the client has already
retried it with back-off) ends the run: the task comes back later, never in a tight loop. A permanent failure
for one member (say an unknown userid) skips that member and goes on with the others.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComPermanentError, WeComTransientError
from workbench.org.models import Operator
from workbench.supervision.models import BehaviorDay
from workbench.supervision.services import day_bounds

logger = logging.getLogger(__name__)

SPAN_MAX_DAYS = 30  # WeCom: start_time to end_time at most 30 days
LOOKBACK_DAYS = 30  # how far back a run looks for days not fetched yet (WeCom keeps 180)
RUN_SECONDS = 240.0  # a run hands over to a fresh task after this long (the task's soft limit is 600 s)
# A day fetched sooner than this after it ended is fetched again: WeCom may not have published it completely yet
# (an empty answer is stored as zeros, which would otherwise stand for good).
SETTLED_AFTER = timedelta(hours=12)
FIELDS = ["chat_cnt", "message_cnt", "reply_percentage", "avg_reply_time", "negative_feedback_cnt"]
FIELDS += ["new_apply_cnt", "new_contact_cnt"]


@dataclass
class FetchResult:
    calls: int = 0
    days_stored: set[date] = field(default_factory=set)
    rows: int = 0
    # Work left over: the time budget ran out, or WeCom refused for now (`error`).
    pending: bool = False
    error: str = ""
    skipped_members: list[str] = field(default_factory=list)


def spans(days: list[date], limit: int = SPAN_MAX_DAYS) -> list[tuple[date, date]]:
    """Consecutive runs of `days` (sorted), each at most `limit` days long: (first, last) pairs."""
    result: list[tuple[date, date]] = []
    for day in sorted(days):
        if result and day == result[-1][1] + timedelta(days=1) and (day - result[-1][0]).days < limit:
            result[-1] = (result[-1][0], day)
        else:
            result.append((day, day))
    return result


def missing_days(*, today: date | None = None, lookback_days: int = LOOKBACK_DAYS) -> dict[Operator, list[date]]:
    """Per member with a WeCom userid (active, or resigned inside the window): closed days without a row."""
    today = today or timezone.localdate()
    first = today - timedelta(days=lookback_days)
    window = [first + timedelta(days=n) for n in range(lookback_days)]
    members = (
        Operator.objects.filter(wecom_userid__isnull=False)
        .exclude(wecom_userid="")
        .filter(Q(status=Operator.Status.ACTIVE) | Q(resigned_at__gte=day_bounds(first)[0]))
        .order_by("pk")
    )
    have: dict[int, set[date]] = {}
    fetched = BehaviorDay.objects.filter(day__gte=first, day__lt=today).values_list("operator_id", "day", "fetched_at")
    for operator_id, day, fetched_at in fetched:
        if fetched_at >= day_bounds(day)[1] + SETTLED_AFTER:
            have.setdefault(operator_id, set()).add(day)
    result = {}
    for member in members:
        days = [day for day in window if day not in have.get(member.pk, ()) and _active_on(member, day)]
        if days:
            result[member] = days
    return result


def _active_on(member: Operator, day: date) -> bool:
    if member.status == Operator.Status.ACTIVE:
        return True
    return member.resigned_at is not None and member.resigned_at >= day_bounds(day)[0]


def store_rows(member: Operator, first: date, last: date, rows: list[dict]) -> list[date]:
    """Upsert one BehaviorDay per day of [first, last]: WeCom's row when it sent one, zeros otherwise."""
    by_day = {timezone.localtime(datetime.fromtimestamp(row["stat_time"], tz=UTC)).date(): row for row in rows}
    objects = []
    day = first
    while day <= last:
        row = by_day.get(day, {})
        objects.append(
            BehaviorDay(
                operator=member,
                day=day,
                chat_cnt=int(row.get("chat_cnt") or 0),
                message_cnt=int(row.get("message_cnt") or 0),
                reply_percentage=row.get("reply_percentage"),
                avg_reply_time=row.get("avg_reply_time"),
                negative_feedback_cnt=int(row.get("negative_feedback_cnt") or 0),
                new_apply_cnt=int(row.get("new_apply_cnt") or 0),
                new_contact_cnt=int(row.get("new_contact_cnt") or 0),
                fetched_at=timezone.now(),
            )
        )
        day += timedelta(days=1)
    BehaviorDay.objects.bulk_create(
        objects, update_conflicts=True, unique_fields=["operator", "day"], update_fields=[*FIELDS, "fetched_at"]
    )
    return [obj.day for obj in objects]


def fetch_behavior(
    *, today: date | None = None, lookback_days: int = LOOKBACK_DAYS, seconds: float | None = RUN_SECONDS
) -> FetchResult:
    """Fetch the missing days of every member, one member and ≤ 30 days per call, until done or out of time."""
    result = FetchResult()
    started = time.monotonic()
    client = get_client()
    for member, days in missing_days(today=today, lookback_days=lookback_days).items():
        for first, last in spans(days):
            if seconds is not None and time.monotonic() - started > seconds:
                result.pending = True
                return result
            try:
                rows = client.user_behavior_data(
                    [member.wecom_userid], int(day_bounds(first)[0].timestamp()), int(day_bounds(last)[0].timestamp())
                )
            except WeComTransientError as error:
                logger.warning("behaviour data: WeCom refused for now, the rest waits for the next run: %s", error)
                result.pending, result.error = True, str(error)
                return result
            except WeComPermanentError as error:
                logger.warning("behaviour data of %s skipped: %s", member.wecom_userid, error)
                result.skipped_members.append(member.wecom_userid)
                break
            finally:
                result.calls += 1
            stored = store_rows(member, first, last, rows)
            result.days_stored.update(stored)
            result.rows += len(stored)
    return result
