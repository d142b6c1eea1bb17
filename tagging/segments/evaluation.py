"""Rule evaluation: set-based SQL over chunks of customer ids, applying the difference.

For each chunk `lo <= id < hi` one statement (PostgreSQL) finds the customers matching the rule's condition and
returns two id arrays: those who match and lack the tag, and those who have it (not pinned by hand) and no longer
match. The difference goes through the tag system's set-based `tag_add` / `tag_remove` (source "rule",
source_id the rule's id), which write the tag rows, one `TagChange` per addition and removal, and the WeCom
outbox (`mark_tag` for each live follow) — in a few statements per 5,000 ids, never a query per customer.

A chunk is one transaction, so a run stopped half-way leaves whole chunks applied; running again applies what
is left (where nothing changed the difference is empty and nothing is written).

Other databases (the SQLite demo) compute the same difference from two id lists per chunk.
"""

import datetime as dt
import logging

from django.db import connection, transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from tagging.models import Customer, CustomerTag, TagSource
from tagging.segments import conditions as lang
from tagging.segments.bitmaps import bitmaps_rebuild_tags
from tagging.segments.models import Rule, RuleRun
from tagging.tags.services import TagError, tag_add, tag_remove

logger = logging.getLogger(__name__)

CHUNK = 100_000  # customer ids per statement
STALE_RUN = dt.timedelta(minutes=10)  # a running evaluation without progress this long is taken over


def chunk_ranges(chunk: int = CHUNK) -> list[tuple[int, int]]:
    bounds = Customer.objects.aggregate(lo=Min("id"), hi=Max("id"))
    if bounds["lo"] is None:
        return []
    return [(lo, min(lo + chunk, bounds["hi"] + 1)) for lo in range(bounds["lo"], bounds["hi"] + 1, chunk)]


def _claim(run_id: int) -> RuleRun | None:
    """Take the run: queued, or running but abandoned (its worker died; the task was delivered again)."""
    now = timezone.now()
    claimable = Q(status=RuleRun.Status.QUEUED) | Q(status=RuleRun.Status.RUNNING, heartbeat_at__lt=now - STALE_RUN)
    claimed = RuleRun.objects.filter(claimable, pk=run_id).update(
        status=RuleRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        chunks_done=0,
        matched=0,
        added=0,
        removed=0,
        error="",
    )
    if not claimed:
        return None
    return RuleRun.objects.select_related("rule__tag").get(pk=run_id)


def rule_run_execute(*, run_id: int, chunk: int = CHUNK, portable: bool | None = None) -> RuleRun | None:
    """Evaluate one requested run. Idempotent: a finished or already running run is left alone."""
    run = _claim(run_id)
    if run is None:
        return RuleRun.objects.filter(pk=run_id).first()
    rule = run.rule
    try:
        if not rule.tag.is_active:
            raise TagError(_("The tag “%(name)s” has been deleted.") % {"name": rule.tag.name})
        condition = lang.validate(run.condition)
        today = lang.local_today()
        ranges = chunk_ranges(chunk)
        RuleRun.objects.filter(pk=run.pk).update(chunks_total=len(ranges))
        use_portable = connection.vendor != "postgresql" if portable is None else portable
        for lo, hi in ranges:
            q = lang.compile_q(condition, today=today, id_range=(lo, hi))
            with transaction.atomic():
                matched, added, removed = _apply_chunk(rule, q, lo, hi, portable=use_portable)
            RuleRun.objects.filter(pk=run.pk).update(
                chunks_done=F("chunks_done") + 1,
                matched=F("matched") + matched,
                added=F("added") + added,
                removed=F("removed") + removed,
                heartbeat_at=timezone.now(),
            )
        bitmaps_rebuild_tags([rule.tag_id])
    except Exception as error:
        if isinstance(error, lang.ConditionError):  # the condition no longer holds (a tag was deleted …)
            logger.warning("rule run %s: %s", run.pk, error.messages)
            message = " ".join(error.messages)
        elif isinstance(error, TagError):
            logger.warning("rule run %s: %s", run.pk, error.message)
            message = error.message
        else:
            logger.exception("rule run %s failed", run.pk)
            message = str(error)
        RuleRun.objects.filter(pk=run.pk).update(
            status=RuleRun.Status.FAILED, error=message[:2000], finished_at=timezone.now()
        )
        Rule.objects.filter(pk=rule.pk).update(last_run=run)
        run.refresh_from_db()
        return run
    RuleRun.objects.filter(pk=run.pk).update(status=RuleRun.Status.DONE, finished_at=timezone.now())
    Rule.objects.filter(pk=rule.pk).update(last_run=run)
    run.refresh_from_db()
    return run


def _apply_chunk(rule: Rule, q: Q, lo: int, hi: int, *, portable: bool) -> tuple[int, int, int]:
    matched, to_add, to_remove = (_difference_portable if portable else _difference_postgres)(rule, q, lo, hi)
    added = tag_add(to_add, rule.tag, source=TagSource.RULE, source_id=rule.pk) if to_add else 0
    removed = tag_remove(to_remove, rule.tag, source=TagSource.RULE, source_id=rule.pk) if to_remove else 0
    return matched, added, removed


def _difference_postgres(rule: Rule, q: Q, lo: int, hi: int) -> tuple[int, list[int], list[int]]:
    """(how many match, who should get the tag, who should lose it) for one chunk, in one statement."""
    matched_sql, matched_params = (
        Customer.objects.filter(q, pk__gte=lo, pk__lt=hi).order_by().values_list("id").query.sql_with_params()
    )
    member = CustomerTag._meta.db_table
    sql = f"""
        WITH matched(id) AS MATERIALIZED ({matched_sql})
        SELECT
            (SELECT count(*) FROM matched),
            ARRAY(SELECT m.id FROM matched m
                  WHERE NOT EXISTS (SELECT 1 FROM {member} e WHERE e.tag_id = %s AND e.customer_id = m.id)
                  ORDER BY m.id),
            ARRAY(SELECT e.customer_id FROM {member} e
                  WHERE e.tag_id = %s AND e.customer_id >= %s AND e.customer_id < %s AND NOT e.pinned
                    AND NOT EXISTS (SELECT 1 FROM matched m WHERE m.id = e.customer_id)
                  ORDER BY e.customer_id)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*matched_params, rule.tag_id, rule.tag_id, lo, hi])
        matched, to_add, to_remove = cursor.fetchone()
    return matched, to_add, to_remove


def _difference_portable(rule: Rule, q: Q, lo: int, hi: int) -> tuple[int, list[int], list[int]]:
    matched = set(Customer.objects.filter(q, pk__gte=lo, pk__lt=hi).order_by().values_list("id", flat=True))
    current = dict(
        CustomerTag.objects.filter(tag_id=rule.tag_id, customer_id__gte=lo, customer_id__lt=hi).values_list(
            "customer_id", "pinned"
        )
    )
    to_add = sorted(matched - current.keys())
    to_remove = sorted(pk for pk, pinned in current.items() if not pinned and pk not in matched)
    return len(matched), to_add, to_remove


# --- schedule --------------------------------------------------------------------------------------------------

RUN_HOUR = 2  # daily and weekly rules run at 02:00, bank time, after the night's imports


def next_run_after(frequency: str, after: dt.datetime) -> dt.datetime | None:
    local = timezone.localtime(after)
    if frequency == Rule.Frequency.HOURLY:
        return (local + dt.timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    if frequency in (Rule.Frequency.DAILY, Rule.Frequency.WEEKLY):
        candidate = local.replace(hour=RUN_HOUR, minute=0, second=0, microsecond=0)
        if candidate <= local:
            candidate += dt.timedelta(days=1)
        if frequency == Rule.Frequency.WEEKLY:
            candidate += dt.timedelta(days=(7 - candidate.weekday()) % 7)
        return candidate
    return None
