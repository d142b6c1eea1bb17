"""Writing the daily facts: one `OperatorDay` row per operator and day, computed by SQL over the day's rows.

`compute_day(day)` is one INSERT … SELECT … ON CONFLICT (operator, day) DO UPDATE: every figure is an aggregate
over an indexed range of the day's rows, joined to the operators active that day, so its cost does not grow
with a loop over customers and running it again rewrites the same rows. The same transaction rewrites the day's
`SourceDay` rows (deliveries, clicks, conversions per operator and source) that the funnels read. It runs on
PostgreSQL (production,
benchmarks) and on SQLite (the no-service demo); the few expressions that differ are in `_Dialect`.

A day is a calendar day in China time (settings.TIME_ZONE): [00:00, 24:00) local, compared in UTC.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns.delivery.models import ChatMessage, Delivery, OperatorTask, SendTask
from campaigns.links.models import LinkClick, TrackedLink
from tagging.models import CustomerTag, FollowRelationship, Tag
from workbench.org.models import Branch, Operator
from workbench.supervision.models import Attribution, BehaviorDay, OperatorDay, SourceDay

logger = logging.getLogger(__name__)

# The 5-minute first-reply standard, in minutes.
FIRST_REPLY_MINUTES = 5


@dataclass(frozen=True)
class _Dialect:
    vendor: str

    def seconds_between(self, earlier: str, later: str) -> str:
        if self.vendor == "postgresql":
            return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"

    def minus_days(self, column: str, days: int) -> str:
        days = int(days)
        if self.vendor == "postgresql":
            return f"({column} - INTERVAL '{days} days')"
        return f"datetime({column}, '-{days} days')"


def dialect() -> _Dialect:
    return _Dialect(connection.vendor)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The day's start and end (exclusive) as aware datetimes in China time."""
    tz = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), tz)
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), tz)
    return start, end


def effective_tag_id() -> int | None:
    """The tag that marks an effective customer (settings.SUPERVISION_EFFECTIVE_TAG, "group/tag")."""
    group, name = settings.SUPERVISION_EFFECTIVE_TAG.split("/")
    return Tag.objects.filter(group__name=group, name=name).values_list("pk", flat=True).first()


def first_reply_sql(behavior: str) -> tuple[str, str]:
    """SQL for (customer-initiated conversations, answered within 5 minutes) from a BehaviorDay row alias.

    WeCom gives, per member and day, only `chat_cnt`, `reply_percentage` (share of customer-initiated chats
    answered that day) and `avg_reply_time` (their average first-reply time in minutes); the per-chat times are
    in the paid session archive, which we do not have. So, honestly:

    - conversations started by customers ≈ `chat_cnt` (WeCom counts no other chats for the member that day);
    - answered within 5 minutes = the answered chats (`chat_cnt × reply_percentage`) of a day whose average
      first-reply time is ≤ 5 minutes, else 0 — a day meets the standard as a whole or not at all.

    Our own records cannot refine it: the sidebar writes the operator's messages, never the customer's. This is
    the one place the definition lives; replace it here when the session archive is bought.
    """
    started = f"COALESCE({behavior}.chat_cnt, 0)"
    answered = f"CAST(ROUND({behavior}.chat_cnt * {behavior}.reply_percentage / 100.0) AS BIGINT)"
    within = (
        f"CASE WHEN {behavior}.avg_reply_time IS NOT NULL AND {behavior}.avg_reply_time <= {FIRST_REPLY_MINUTES}"
        f" AND {behavior}.reply_percentage IS NOT NULL THEN {answered} ELSE 0 END"
    )
    return started, within


FIGURES = [
    "customers_owned",
    "customers_new",
    "lost_by_customer",
    "lost_by_operator",
    "effective_customers",
    "tasks_due",
    "tasks_done",
    "tasks_on_time",
    "tasks_overdue",
    "mass_tasks_received",
    "mass_tasks_confirmed",
    "confirm_delay_seconds",
    "deliveries",
    "chat_messages",
    "clicks",
    "conversions",
    "conversion_amount",
    "chats",
    "messages",
    "reply_percentage",
    "avg_reply_minutes",
    "negative_feedback",
    "conversations_started",
    "replied_within_5min",
]


def _facts_sql(sql: _Dialect, *, with_effective: bool) -> str:
    t = {
        "day": OperatorDay._meta.db_table,
        "operator": Operator._meta.db_table,
        "branch": Branch._meta.db_table,
        "follow": FollowRelationship._meta.db_table,
        "ctag": CustomerTag._meta.db_table,
        "task": OperatorTask._meta.db_table,
        "send": SendTask._meta.db_table,
        "delivery": Delivery._meta.db_table,
        "chat": ChatMessage._meta.db_table,
        "click": LinkClick._meta.db_table,
        "link": TrackedLink._meta.db_table,
        "attr": Attribution._meta.db_table,
        "behavior": BehaviorDay._meta.db_table,
    }
    started, within = first_reply_sql("bd")
    delay = sql.seconds_between("s.submitted_at", "s.confirmed_at")
    effective = (
        f"""LEFT JOIN (
            SELECT f.operator_id, COUNT(*) AS n FROM {t["follow"]} f
            JOIN {t["ctag"]} ct ON ct.customer_id = f.customer_id AND ct.tag_id = %(tag)s AND ct.added_at < %(end)s
            WHERE f.added_at < %(end)s AND (f.deleted_at IS NULL OR f.deleted_at >= %(end)s)
            GROUP BY f.operator_id
        ) eff ON eff.operator_id = o.id"""
        if with_effective
        else "LEFT JOIN (SELECT NULL AS operator_id, 0 AS n) eff ON 1 = 0"
    )
    columns = ", ".join(["day", "operator_id", "branch_id", "branch_path", *FIGURES, "computed_at"])
    updates = ", ".join(f"{name} = excluded.{name}" for name in ["branch_id", "branch_path", *FIGURES, "computed_at"])
    return f"""
    INSERT INTO {t["day"]} ({columns})
    SELECT %(day)s, o.id, o.branch_id, b.path,
        COALESCE(fl.owned, 0), COALESCE(fl.added, 0), COALESCE(fl.lost_c, 0), COALESCE(fl.lost_o, 0),
        COALESCE(eff.n, 0),
        COALESCE(due.due, 0) , COALESCE(done.done, 0), COALESCE(done.on_time, 0), COALESCE(due.overdue, 0),
        COALESCE(sr.received, 0), COALESCE(sc.confirmed, 0), COALESCE(sc.delay, 0), COALESCE(sc.delivered, 0),
        COALESCE(ch.n, 0), COALESCE(cl.n, 0), COALESCE(cv.n, 0), COALESCE(cv.amount, 0),
        COALESCE(bd.chat_cnt, 0), COALESCE(bd.message_cnt, 0), bd.reply_percentage, bd.avg_reply_time,
        COALESCE(bd.negative_feedback_cnt, 0), {started}, {within},
        %(now)s
    FROM {t["operator"]} o
    JOIN {t["branch"]} b ON b.id = o.branch_id
    LEFT JOIN (
        SELECT operator_id,
            SUM(CASE WHEN deleted_at IS NULL OR deleted_at >= %(end)s THEN 1 ELSE 0 END) AS owned,
            SUM(CASE WHEN added_at >= %(start)s THEN 1 ELSE 0 END) AS added,
            SUM(CASE WHEN deleted_at < %(end)s AND deleted_by = 'customer' THEN 1 ELSE 0 END) AS lost_c,
            SUM(CASE WHEN deleted_at < %(end)s AND deleted_by = 'operator' THEN 1 ELSE 0 END) AS lost_o
        FROM {t["follow"]}
        WHERE added_at < %(end)s AND (deleted_at IS NULL OR deleted_at >= %(start)s)
        GROUP BY operator_id
    ) fl ON fl.operator_id = o.id
    {effective}
    LEFT JOIN (
        SELECT operator_id, COUNT(*) AS due,
            SUM(CASE WHEN done_at IS NULL OR done_at > due_at THEN 1 ELSE 0 END) AS overdue
        FROM {t["task"]}
        WHERE due_at >= %(start)s AND due_at < %(end)s AND status <> 'cancelled'
        GROUP BY operator_id
    ) due ON due.operator_id = o.id
    LEFT JOIN (
        SELECT operator_id, COUNT(*) AS done, SUM(CASE WHEN done_at <= due_at THEN 1 ELSE 0 END) AS on_time
        FROM {t["task"]}
        WHERE status = 'done' AND done_at >= %(start)s AND done_at < %(end)s
        GROUP BY operator_id
    ) done ON done.operator_id = o.id
    LEFT JOIN (
        SELECT sender_id, COUNT(*) AS received FROM {t["send"]}
        WHERE submitted_at >= %(start)s AND submitted_at < %(end)s
        GROUP BY sender_id
    ) sr ON sr.sender_id = o.id
    LEFT JOIN (
        SELECT s.sender_id, COUNT(*) AS confirmed,
            SUM(CASE WHEN s.submitted_at IS NULL THEN 0 ELSE CAST(ROUND({delay}) AS BIGINT) END) AS delay,
            SUM(COALESCE(dd.n, 0)) AS delivered
        FROM {t["send"]} s
        LEFT JOIN (
            SELECT d.send_task_id, COUNT(*) AS n FROM {t["delivery"]} d
            JOIN {t["send"]} s2 ON s2.id = d.send_task_id
            WHERE d.send_task_id IS NOT NULL AND d.status = 'delivered'
                AND s2.confirmed_at >= %(start)s AND s2.confirmed_at < %(end)s
            GROUP BY d.send_task_id
        ) dd ON dd.send_task_id = s.id
        WHERE s.confirmed_at >= %(start)s AND s.confirmed_at < %(end)s
        GROUP BY s.sender_id
    ) sc ON sc.sender_id = o.id
    LEFT JOIN (
        SELECT operator_id, COUNT(*) AS n FROM {t["chat"]}
        WHERE sent_at >= %(start)s AND sent_at < %(end)s
        GROUP BY operator_id
    ) ch ON ch.operator_id = o.id
    LEFT JOIN (
        SELECT l.sender_id, COUNT(*) AS n FROM {t["click"]} c JOIN {t["link"]} l ON l.id = c.link_id
        WHERE c.clicked_at >= %(start)s AND c.clicked_at < %(end)s AND l.sender_id IS NOT NULL
        GROUP BY l.sender_id
    ) cl ON cl.sender_id = o.id
    LEFT JOIN (
        SELECT operator_id, COUNT(*) AS n, SUM(amount) AS amount FROM {t["attr"]}
        WHERE purchased_at >= %(start)s AND purchased_at < %(end)s AND operator_id IS NOT NULL
        GROUP BY operator_id
    ) cv ON cv.operator_id = o.id
    LEFT JOIN {t["behavior"]} bd ON bd.operator_id = o.id AND bd.day = %(day)s
    WHERE o.status = 'active' OR o.resigned_at >= %(start)s
    ON CONFLICT (operator_id, day) DO UPDATE SET {updates}
    """


def _source_days_sql() -> str:
    """The day's deliveries, clicks and conversions per operator and source (the funnels' rows)."""
    t = {
        "source_day": SourceDay._meta.db_table,
        "operator": Operator._meta.db_table,
        "branch": Branch._meta.db_table,
        "delivery": Delivery._meta.db_table,
        "send": SendTask._meta.db_table,
        "click": LinkClick._meta.db_table,
        "link": TrackedLink._meta.db_table,
        "attr": Attribution._meta.db_table,
    }
    return f"""
    INSERT INTO {t["source_day"]} (day, operator_id, branch_path, source_kind, source_id, delivered, clicks,
        conversions, conversion_amount)
    SELECT %(day)s, x.operator_id, b.path, x.kind, x.source, SUM(x.delivered), SUM(x.clicks), SUM(x.conversions),
        SUM(x.amount)
    FROM (
        SELECT sender_id AS operator_id, source_kind AS kind, source_id AS source, COUNT(*) AS delivered,
            0 AS clicks, 0 AS conversions, 0 AS amount
        FROM {t["delivery"]}
        WHERE status = 'delivered' AND result_at >= %(start)s AND result_at < %(end)s AND sender_id IS NOT NULL
        GROUP BY sender_id, source_kind, source_id
        UNION ALL
        SELECT l.sender_id, s.source_kind, s.source_id, 0, COUNT(*), 0, 0
        FROM {t["click"]} c JOIN {t["link"]} l ON l.id = c.link_id JOIN {t["send"]} s ON s.id = l.context_id
        WHERE c.clicked_at >= %(start)s AND c.clicked_at < %(end)s AND l.context = %(playbook_link)s
            AND l.sender_id IS NOT NULL
        GROUP BY l.sender_id, s.source_kind, s.source_id
        UNION ALL
        SELECT operator_id, source_kind, source_id, 0, 0, COUNT(*), SUM(amount)
        FROM {t["attr"]}
        WHERE purchased_at >= %(start)s AND purchased_at < %(end)s AND operator_id IS NOT NULL
            AND source_kind <> '' AND source_id IS NOT NULL
        GROUP BY operator_id, source_kind, source_id
    ) x
    JOIN {t["operator"]} o ON o.id = x.operator_id
    JOIN {t["branch"]} b ON b.id = o.branch_id
    GROUP BY x.operator_id, b.path, x.kind, x.source
    """


def compute_day(day: date) -> int:
    """Compute (or recompute) every active operator's facts for `day`; returns the number of rows written."""
    start, end = day_bounds(day)
    ops = connection.ops
    tag = effective_tag_id()
    params = {
        "day": ops.adapt_datefield_value(day),
        "start": ops.adapt_datetimefield_value(start),
        "end": ops.adapt_datetimefield_value(end),
        "now": ops.adapt_datetimefield_value(timezone.now()),
    }
    if tag is not None:
        params["tag"] = tag
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_facts_sql(dialect(), with_effective=tag is not None), params)
        written = cursor.rowcount
        cursor.execute(f"DELETE FROM {SourceDay._meta.db_table} WHERE day = %(day)s", params)
        cursor.execute(_source_days_sql(), params | {"playbook_link": TrackedLink.Context.PLAYBOOK})
    logger.debug("facts of %s: %s operators", day, written)
    return written


def compute_range(start: date, end: date) -> int:
    """Compute every day from `start` to `end`, both included; returns the rows written."""
    if end < start:
        raise ValueError("the range ends before it starts")
    written = 0
    day = start
    while day <= end:
        written += compute_day(day)
        day += timedelta(days=1)
    return written


def closed_days_to_compute(*, today: date | None = None, max_days_back: int = 31) -> list[date]:
    """The closed days (before today, China time) of the last `max_days_back` that have no facts yet, and
    yesterday always: late events (an import, a confirmation after midnight, behaviour data) land in it."""
    today = today or timezone.localdate()
    first = today - timedelta(days=max_days_back)
    done = set(OperatorDay.objects.filter(day__gte=first, day__lt=today).values_list("day", flat=True).distinct())
    days = [first + timedelta(days=n) for n in range(max_days_back) if first + timedelta(days=n) not in done]
    yesterday = today - timedelta(days=1)
    if yesterday not in days:
        days.append(yesterday)
    return sorted(days)


def compute_closed_days(*, today: date | None = None, max_days_back: int = 31) -> list[date]:
    """What beat runs: attribute new purchases, then compute the missing closed days and refresh yesterday."""
    from workbench.supervision.attribution import attribute_new_purchases

    days = set(closed_days_to_compute(today=today, max_days_back=max_days_back))
    today = today or timezone.localdate()
    days |= {day for day in attribute_new_purchases() if today - timedelta(days=max_days_back) <= day < today}
    for day in sorted(days):
        compute_day(day)
    refresh_playbook_uplifts()
    return sorted(days)


def refresh_playbook_uplifts() -> int:
    """Measure again, into the cache, the uplift of every playbook that has drawn A/B arms (dashboards read it)."""
    from campaigns.playbooks.models import Playbook, StepRun
    from workbench.supervision.selectors import playbook_uplift

    split = StepRun.objects.filter(outcome="control").values("version__playbook_id")
    playbooks = Playbook.objects.filter(pk__in=split)
    for playbook in playbooks:
        playbook_uplift(playbook, fresh=True)
    return len(playbooks)
