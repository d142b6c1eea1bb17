"""The contact policy (触达规则): ONE gate every customer message passes, when it is planned and again just before
it is handed to WeCom.

Rules, in the order a reason is given:

1. `unmatched` — the customer is not a WeCom contact (no external_userid);
2. `no_relationship` — no active operator with a WeCom account follows the customer;
3. `opted_out`, `dnd` — the customer's own opt-out, or staff's do-not-disturb;
4. `cap_day`, `cap_week`, `cap_month` — the customer's caps across every playbook, per calendar day, natural week
   (Monday first) and month in the bank's time zone; never above the WeCom quota the corp is set to;
5. `member_daily` — the sender already has a mass message for this customer today (WeCom: one per member per
   customer per day; it shows when the daily cap is above one);
6. quiet hours — not a suppression: the message is deferred to the end of the window.

What holds a slot of a customer's caps: messages in a send task, with WeCom or delivered, plus planned messages that
rank before this one — a lower priority number (1 is the most important), or the same priority planned earlier.
So a more important playbook that plans later still wins the slot: the less important message is suppressed when
it comes up for sending. Everything runs as set-based SQL over id lists (`db.temp_table`), never one query per
customer.
"""

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.delivery import db
from campaigns.delivery.models import ContactPolicy, ContactPreference, Delivery, QuotaMode, Reason, Suppression

KIND_MASS_SEND = "mass_send"  # a WeCom mass-send task: every rule
KIND_MESSAGE = "message"  # a 1:1 message through the operator's WeCom: no caps, no member rule
KIND_TASK = "task"  # a call or a visit: only opt-out and do-not-disturb
KINDS = (KIND_MASS_SEND, KIND_MESSAGE, KIND_TASK)

# The WeCom quota (DOC-92135) each setting allows per period; `None`: the setting does not limit that period.
QUOTA = {
    QuotaMode.MONTHLY: {"day": None, "week": None, "month": 31},  # as many as the month has days (checked per month)
    QuotaMode.WEEKLY: {"day": None, "week": 7, "month": None},
    QuotaMode.DAILY: {"day": 1, "week": 7, "month": 31},
}

_NO_KEY = ("", -1, "")  # a business key no delivery has


@dataclass
class PolicyVerdict:
    allowed: list[int] = field(default_factory=list)
    deferred: dict[int, datetime] = field(default_factory=dict)  # customer → when it may be sent
    suppressed: dict[int, str] = field(default_factory=dict)  # customer → reason code
    senders: dict[int, int] = field(default_factory=dict)  # customer → operator who would send (allowed, deferred)


def get_policy() -> ContactPolicy:
    policy = ContactPolicy.objects.filter(pk=1).first()
    if policy is None:
        policy, _created = ContactPolicy.objects.get_or_create(pk=1)
    return policy


# A purchase is credited to the last touch within this many days before it (supervision's attribution, the one
# rule every funnel and report counts conversions by).
CONVERSION_WINDOW_MAX_DAYS = 90


def validate_policy(policy: ContactPolicy) -> None:
    """Caps are never above the WeCom quota the corp is set to, and the periods nest (day ≤ week ≤ month)."""
    errors = {}
    quota = QUOTA[QuotaMode(policy.wecom_quota_mode)]
    for period, name in (("day", "cap_per_day"), ("week", "cap_per_week"), ("month", "cap_per_month")):
        value = getattr(policy, name)
        if value < 1:
            errors[name] = _("At least 1.")
        elif quota[period] is not None and value > quota[period]:
            errors[name] = _("WeCom's quota setting allows at most %(n)s.") % {"n": quota[period]}
    if not errors:
        if policy.cap_per_day > policy.cap_per_week:
            errors["cap_per_week"] = _("The weekly cap cannot be below the daily cap.")
        elif policy.cap_per_week > policy.cap_per_month:
            errors["cap_per_month"] = _("The monthly cap cannot be below the weekly cap.")
    if policy.remind_after_minutes < 1:
        errors["remind_after_minutes"] = _("At least 1.")
    if policy.stale_after_hours < 1:
        errors["stale_after_hours"] = _("At least 1.")
    if not 1 <= policy.conversion_window_days <= CONVERSION_WINDOW_MAX_DAYS:
        errors["conversion_window_days"] = _("Between 1 and %(n)s days.") % {"n": CONVERSION_WINDOW_MAX_DAYS}
    if errors:
        raise ValidationError(errors)


def policy_update(*, actor, **values) -> ContactPolicy:
    with transaction.atomic():
        policy = get_policy()
        ContactPolicy.objects.select_for_update().filter(pk=policy.pk).first()
        for name, value in values.items():
            setattr(policy, name, value)
        validate_policy(policy)
        policy.updated_by = actor if getattr(actor, "is_authenticated", False) else None
        policy.save()
    return policy


# --- periods, caps, quiet hours -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The day, natural week and month containing a moment, in the bank's time zone, and the caps in force."""

    day: tuple[datetime, datetime]
    week: tuple[datetime, datetime]
    month: tuple[datetime, datetime]
    cap_day: int
    cap_week: int
    cap_month: int

    @property
    def span(self) -> tuple[datetime, datetime]:
        return min(self.week[0], self.month[0]), max(self.week[1], self.month[1])


def _midnight(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def window(policy: ContactPolicy, at: datetime) -> Window:
    local = timezone.localtime(at).date()
    monday = local - timedelta(days=local.weekday())
    first = local.replace(day=1)
    days_in_month = calendar.monthrange(first.year, first.month)[1]
    quota = QUOTA[QuotaMode(policy.wecom_quota_mode)]
    cap_month = policy.cap_per_month
    if policy.wecom_quota_mode == QuotaMode.MONTHLY:
        cap_month = min(cap_month, days_in_month)  # WeCom: as many a month as the month has days
    return Window(
        day=(_midnight(local), _midnight(local + timedelta(days=1))),
        week=(_midnight(monday), _midnight(monday + timedelta(days=7))),
        month=(_midnight(first), _midnight(first + timedelta(days=days_in_month))),
        cap_day=min(policy.cap_per_day, quota["day"] or policy.cap_per_day),
        cap_week=min(policy.cap_per_week, quota["week"] or policy.cap_per_week),
        cap_month=min(cap_month, quota["month"] or cap_month),
    )


def quiet_until(policy: ContactPolicy, at: datetime) -> datetime | None:
    """The end of the quiet hours `at` falls in, or None when `at` is outside them (start == end: no quiet hours)."""
    start, end = policy.quiet_start, policy.quiet_end
    if start == end:
        return None
    local = timezone.localtime(at)
    now = local.time()
    today = local.date()
    if start < end:
        inside, end_day = start <= now < end, today
    elif now >= start:
        inside, end_day = True, today + timedelta(days=1)
    else:
        inside, end_day = now < end, today
    if not inside:
        return None
    return timezone.make_aware(datetime.combine(end_day, end))


def end_of_day(at: datetime) -> datetime:
    return _midnight(timezone.localtime(at).date() + timedelta(days=1))


# --- the verdict, in SQL ----------------------------------------------------------------------------------------


def verdict_sql(source: str) -> str:
    """SELECT key, customer_id, sender_id, reason for every row of `source`.

    `source` is a SELECT of (key, customer_id, cur_sender, priority, self_id): `key` identifies the row in the
    answer; `cur_sender` is kept as the sender while it still follows the customer; `self_id` is the delivery's
    own id when it exists already (ranking among planned deliveries), else NULL (a new one ranks last)."""
    return """
    WITH src AS ({source}),
    base AS (
        SELECT s.k, s.customer_id, s.cur_sender, s.priority, s.self_id, c.owner_id, c.external_userid
        FROM src s JOIN tagging_customer c ON c.id = s.customer_id
    ),
    pick AS (
        SELECT b.k, f.operator_id, ROW_NUMBER() OVER (
            PARTITION BY b.k
            ORDER BY CASE WHEN f.operator_id = b.cur_sender THEN 0 WHEN f.operator_id = b.owner_id THEN 1 ELSE 2 END,
                     f.added_at DESC, f.id DESC
        ) AS rn
        FROM base b
        JOIN tagging_followrelationship f ON f.customer_id = b.customer_id AND f.deleted_at IS NULL
        JOIN org_operator o ON o.id = f.operator_id AND o.status = 'active'
            AND o.wecom_userid IS NOT NULL AND o.wecom_userid <> ''
    ),
    cand AS (
        SELECT b.k, b.customer_id, b.priority, b.self_id, p.operator_id AS sender_id, b.external_userid,
               COALESCE(pref.dnd, FALSE) AS dnd, COALESCE(pref.opted_out, FALSE) AS opted_out
        FROM base b
        LEFT JOIN pick p ON p.k = b.k AND p.rn = 1
        LEFT JOIN delivery_contactpreference pref ON pref.customer_id = b.customer_id
    ),
    held AS ({held})
    SELECT x.k, x.customer_id, x.sender_id,
        CASE
            WHEN %(wecom)s AND (x.external_userid IS NULL OR x.external_userid = '') THEN 'unmatched'
            WHEN %(wecom)s AND x.sender_id IS NULL THEN 'no_relationship'
            WHEN x.opted_out THEN 'opted_out'
            WHEN x.dnd THEN 'dnd'
            WHEN COALESCE(h.n_day, 0) >= %(cap_day)s THEN 'cap_day'
            WHEN COALESCE(h.n_week, 0) >= %(cap_week)s THEN 'cap_week'
            WHEN COALESCE(h.n_month, 0) >= %(cap_month)s THEN 'cap_month'
            WHEN COALESCE(h.n_member, 0) >= 1 THEN 'member_daily'
            ELSE ''
        END AS reason
    FROM cand x
    LEFT JOIN held h ON h.k = x.k
    """.replace("{held}", _HELD_PG if db.is_postgres() else _HELD_PORTABLE).replace("{source}", source)


# A message's slots held by others. Counted per row with an index lookup (customer, due_at) on PostgreSQL, so
# the plan never depends on how fresh the statistics of today's deliveries are; joined and grouped on SQLite.
_HOLDS = """
    (x.self_id IS NULL OR d.id <> x.self_id)
    AND NOT (d.source_kind = %(key_kind)s AND d.source_id = %(key_id)s AND d.step_key = %(key_step)s)
    AND (d.status IN ({holding})
         OR (d.status = 'planned' AND (d.priority < x.priority
             OR (d.priority = x.priority AND (x.self_id IS NULL OR d.id < x.self_id)))))
""".replace("{holding}", ", ".join(f"'{status}'" for status in Delivery.HOLDING))

_HELD_PG = f"""
        SELECT x.k, h.n_day, h.n_week, h.n_month, h.n_member
        FROM cand x CROSS JOIN LATERAL (
            SELECT COUNT(*) FILTER (WHERE d.due_at >= %(day0)s AND d.due_at < %(day1)s) AS n_day,
                   COUNT(*) FILTER (WHERE d.due_at >= %(week0)s AND d.due_at < %(week1)s) AS n_week,
                   COUNT(*) FILTER (WHERE d.due_at >= %(month0)s AND d.due_at < %(month1)s) AS n_month,
                   COUNT(*) FILTER (WHERE d.due_at >= %(day0)s AND d.due_at < %(day1)s
                                    AND d.sender_id = x.sender_id) AS n_member
            FROM delivery_delivery d
            WHERE d.customer_id = x.customer_id AND d.due_at >= %(span0)s AND d.due_at < %(span1)s AND {_HOLDS}
        ) h
        WHERE %(caps)s
"""

_HELD_PORTABLE = f"""
        SELECT x.k,
            SUM(CASE WHEN d.due_at >= %(day0)s AND d.due_at < %(day1)s THEN 1 ELSE 0 END) AS n_day,
            SUM(CASE WHEN d.due_at >= %(week0)s AND d.due_at < %(week1)s THEN 1 ELSE 0 END) AS n_week,
            SUM(CASE WHEN d.due_at >= %(month0)s AND d.due_at < %(month1)s THEN 1 ELSE 0 END) AS n_month,
            SUM(CASE WHEN d.due_at >= %(day0)s AND d.due_at < %(day1)s AND d.sender_id = x.sender_id
                THEN 1 ELSE 0 END) AS n_member
        FROM cand x
        JOIN delivery_delivery d ON d.customer_id = x.customer_id
        WHERE %(caps)s AND d.due_at >= %(span0)s AND d.due_at < %(span1)s AND {_HOLDS}
        GROUP BY x.k
"""


def tune(cursor, *, bulk: bool) -> None:
    """Planner settings for this transaction (PostgreSQL only). Bulk (a million rows at once): hashes and sorts in
    memory. Small batches (a tick's claim): index lookups, which the default random_page_cost of spinning disks
    talks the planner out of. Never a JIT compile: it costs more than these queries save."""
    if db.is_postgres():
        cursor.execute("SET LOCAL jit = off")
        if bulk:
            cursor.execute("SET LOCAL work_mem = '128MB'")
        else:
            cursor.execute("SET LOCAL random_page_cost = 1.1")


def customers_source(ids_table: str) -> str:
    """The verdict's source for new messages to the customers listed in `ids_table` (column customer_id)."""
    return (
        "SELECT customer_id AS k, customer_id, CAST(NULL AS bigint) AS cur_sender, %(priority)s AS priority,"
        f" CAST(NULL AS bigint) AS self_id FROM {ids_table}"
    )


def verdict_params(*, policy: ContactPolicy, at: datetime, kind: str, key=_NO_KEY) -> dict:
    w = window(policy, at)
    caps = kind == KIND_MASS_SEND
    return {
        "day0": db.dt(w.day[0]),
        "day1": db.dt(w.day[1]),
        "week0": db.dt(w.week[0]),
        "week1": db.dt(w.week[1]),
        "month0": db.dt(w.month[0]),
        "month1": db.dt(w.month[1]),
        "span0": db.dt(w.span[0]),
        "span1": db.dt(w.span[1]),
        "caps": caps,
        "wecom": kind in (KIND_MASS_SEND, KIND_MESSAGE),
        "cap_day": w.cap_day,
        "cap_week": w.cap_week,
        "cap_month": w.cap_month,
        "key_kind": key[0],
        "key_id": key[1],
        "key_step": key[2],
    }


def check(customer_ids: Sequence[int], *, at: datetime, priority: int, kind: str = KIND_MASS_SEND) -> PolicyVerdict:
    """What the policy says now about messaging these customers at `at`. Reads only: nothing is recorded (the
    engine records its own suppressions; a caller that acts on a verdict records its own with `record`)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    verdict = PolicyVerdict()
    ids = sorted({int(pk) for pk in customer_ids})
    if not ids:
        return verdict
    policy = get_policy()
    quiet = quiet_until(policy, at) if kind != KIND_TASK else None
    params = verdict_params(policy=policy, at=quiet or at, kind=kind) | {"priority": priority}
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        db.temp_table(cursor, "customer_id integer", ((pk,) for pk in ids)) as ids_table,
    ):
        cursor.execute(verdict_sql(customers_source(ids_table)), params)
        rows = cursor.fetchall()
    seen = set()
    for _key, customer_id, sender_id, reason in rows:
        seen.add(customer_id)
        if reason:
            verdict.suppressed[customer_id] = reason
            continue
        if sender_id is not None:
            verdict.senders[customer_id] = sender_id
        if quiet is not None:
            verdict.deferred[customer_id] = quiet
        else:
            verdict.allowed.append(customer_id)
    for customer_id in ids:  # ids that name no customer
        if customer_id not in seen:
            verdict.suppressed[customer_id] = Reason.UNMATCHED.value
    return verdict


def record(
    *, customer_ids, action: str, reason: str, source_kind: str, source_id: int, step_key: str, kind: str, until=None
) -> int:
    """Write suppression history rows (the engine calls it; playbooks may too, for messages they hold back)."""
    rows = [
        Suppression(
            customer_id=pk,
            action=action,
            reason=reason,
            until=until,
            kind=kind,
            source_kind=source_kind,
            source_id=source_id,
            step_key=step_key,
        )
        for pk in customer_ids
    ]
    Suppression.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


# --- do-not-disturb and opt-out ----------------------------------------------------------------------------------


def set_dnd(customer, on: bool, actor=None, reason: str = "") -> ContactPreference:
    """Turn the customer's do-not-disturb on or off. Planned messages are held back when they come up."""
    return _set_preference(customer, actor=actor, reason=reason, dnd=bool(on))


def set_opted_out(customer, on: bool, actor=None, reason: str = "") -> ContactPreference:
    """Record the customer's own opt-out (退订) of marketing messages, or its withdrawal."""
    return _set_preference(customer, actor=actor, reason=reason, opted_out=bool(on))


def _set_preference(customer, *, actor, reason: str, **flags) -> ContactPreference:
    from tagging.models import CustomerEvent

    customer_id = getattr(customer, "pk", customer)
    with transaction.atomic():
        preference, _created = ContactPreference.objects.select_for_update().get_or_create(customer_id=customer_id)
        changed = {name: value for name, value in flags.items() if getattr(preference, name) != value}
        if not changed:
            return preference
        for name, value in changed.items():
            setattr(preference, name, value)
        preference.reason = (reason or "")[:200]
        preference.updated_by = actor if getattr(actor, "is_authenticated", False) else None
        preference.save()
        operator = getattr(actor, "operator", None) if actor is not None else None
        labels = {
            ("dnd", True): _("Do not disturb turned on"),
            ("dnd", False): _("Do not disturb turned off"),
            ("opted_out", True): _("Opted out of marketing messages"),
            ("opted_out", False): _("Opt-out withdrawn"),
        }
        for name, value in changed.items():
            summary = labels[(name, value)] + (f": {reason}" if reason else "")
            CustomerEvent.objects.create(
                customer_id=customer_id,
                occurred_at=timezone.now(),
                kind=CustomerEvent.Kind.NOTE,
                summary=summary[:255],
                operator=operator,
                data={"contact_preference": name, "on": value},
            )
    return preference
