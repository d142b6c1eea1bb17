"""The tick: due enrolments claimed in batches with FOR UPDATE SKIP LOCKED, their steps run set-based.

`tick(now, batch=…)` loops over the active playbooks; per playbook it claims up to `batch` enrolments whose step
is due (`ORDER BY due_at LIMIT … FOR UPDATE SKIP LOCKED` on the partial index `enrolment_due`) and, in the same
transaction:

1. exit rules — converted (a product bought since entering), deleted the operator, do-not-disturb (the contact
   policy's verdict), a custom condition — one query per rule for the whole batch;
2. steps, in rounds: the batch is grouped by (version, step) and each group is run at once. A step's effect is
   applied only for the enrolments whose `StepRun` row this transaction inserted (`INSERT … ON CONFLICT DO
   NOTHING RETURNING`), so a step happens once per (version, step, customer, entry) even if two ticks or a
   retried batch reach it. Steps that take no time (send, task, tag, branch, A/B split) lead straight on to the
   next step in the next round; timed steps (delay, wait until, wait for a condition) set `due_at` and stop;
3. one UPDATE of every claimed enrolment (PostgreSQL: `UPDATE … FROM unnest(…)`).

Sends go to the engine's `plan_sends` once per group (one call for up to `batch` customers); operator tasks to
`create_operator_task` per customer; tags to the tag services (source "event", source id the playbook). The engine
writes its delivery and task rows in this transaction: if the tick dies, nothing of the batch happened and the
enrolments are claimed again. A paused playbook's enrolments are not claimed; they wait where they are.
"""

import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns.playbooks import engine, schedule, spec
from campaigns.playbooks.models import Enrolment, Playbook, PlaybookVersion, StepRun
from campaigns.playbooks.spec import StepType
from campaigns.playbooks.sqlrows import db_time, is_postgres, quote, rows_source
from tagging.models import Customer, FollowRelationship, TagSource

logger = logging.getLogger(__name__)

BATCH = 2000
MAX_SECONDS = 50.0


@dataclass
class Item:
    """A claimed enrolment while the tick works on it."""

    id: int
    playbook_id: int
    version_id: int
    customer_id: int
    entry: int
    step: str
    step_until: dt.datetime | None
    arm: str
    entered_at: dt.datetime
    state: str = Enrolment.State.ACTIVE
    due_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    exit_reason: str = ""


@dataclass
class Stats:
    claimed: int = 0
    steps: int = 0
    completed: int = 0
    exited: int = 0
    sent: int = 0
    tasks: int = 0
    batches: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class _Context:
    """Per tick: versions and playbooks read once."""

    def __init__(self, now: dt.datetime):
        self.now = now
        self.versions: dict[int, PlaybookVersion] = {}
        self.playbooks: dict[int, Playbook] = {}

    def load(self, items: list[Item]) -> None:
        missing = {item.version_id for item in items} - self.versions.keys()
        if missing:
            for version in PlaybookVersion.objects.filter(pk__in=missing).select_related("playbook"):
                self.versions[version.pk] = version
                self.playbooks[version.playbook_id] = version.playbook


# --- the tick ---------------------------------------------------------------------------------------------------


def tick(now: dt.datetime | None = None, *, batch: int = BATCH, max_seconds: float = MAX_SECONDS) -> dict:
    """Run every due step of every active playbook (until `max_seconds` is used up). Safe to run concurrently."""
    now = now or timezone.now()
    started = time.monotonic()
    stats = Stats()
    context = _Context(now)
    playbook_ids = list(Playbook.objects.filter(status=Playbook.Status.ACTIVE).values_list("pk", flat=True))
    for playbook_id in playbook_ids:
        while time.monotonic() - started < max_seconds:
            with transaction.atomic():
                items = claim(playbook_id, now, batch)
                if not items:
                    break
                process(items, context, stats)
            stats.batches += 1
            if len(items) < batch:
                break
    return stats.as_dict()


def claim(playbook_id: int, now: dt.datetime, limit: int) -> list[Item]:
    """Due enrolments of one playbook, locked for this transaction; rows another tick holds are skipped."""
    table = quote(Enrolment._meta.db_table)
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        "SELECT id, playbook_id, version_id, customer_id, entry, step, step_until, arm, entered_at"
        f" FROM {table} WHERE playbook_id = %s AND state = %s AND due_at <= %s ORDER BY due_at LIMIT %s{lock}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [playbook_id, Enrolment.State.ACTIVE, db_time(now), limit])
        rows = cursor.fetchall()
    return [
        Item(pk, pb, version, customer, entry, step, _to_datetime(until), arm, _to_datetime(entered), due_at=now)
        for pk, pb, version, customer, entry, step, until, arm, entered in rows
    ]


def _to_datetime(value):
    """SQLite returns timestamps as text in raw queries."""
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)


def process(items: list[Item], context: "_Context", stats: Stats) -> None:
    context.load(items)
    stats.claimed += len(items)
    now = context.now
    for item in items:
        if item.version_id not in context.versions:  # pragma: no cover - versions are PROTECTed
            _finish(item, now, Enrolment.State.EXITED, Enrolment.Reason.CONDITION)
    active = [item for item in items if item.state == Enrolment.State.ACTIVE]
    _apply_exits(active, context)
    ready = [item for item in active if item.state == Enrolment.State.ACTIVE]
    for _round in range(spec.MAX_STEPS + 2):
        if not ready:
            break
        groups: dict[tuple[int, str], list[Item]] = defaultdict(list)
        for item in ready:
            groups[(item.version_id, item.step)].append(item)
        ready = []
        for (version_id, key), group in groups.items():
            version = context.versions[version_id]
            step = version.step(key)
            if step is None:  # a version's steps never change; a lost key ends the journey rather than looping
                for item in group:
                    _finish(item, now, Enrolment.State.COMPLETED)
                continue
            ready += _run_step(step, version, group, context, stats)
    for item in items:
        if item.state != Enrolment.State.ACTIVE:
            if item.exit_reason and item.exit_reason != Enrolment.Reason.CONTROL:
                stats.exited += 1
            else:
                stats.completed += 1
    _save(items)


# --- exits -----------------------------------------------------------------------------------------------------


def _apply_exits(items: list[Item], context: _Context) -> None:
    by_version: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        if context.versions[item.version_id].exits:
            by_version[item.version_id].append(item)
    for version_id, group in by_version.items():
        version = context.versions[version_id]
        reasons = exit_reasons(
            version, group, now=context.now, priority=context.playbooks[version.playbook_id].priority
        )
        for item in group:
            if item.id in reasons:
                _finish(item, context.now, Enrolment.State.EXITED, reasons[item.id])


def exit_reasons(version: PlaybookVersion, items: list[Item], *, now: dt.datetime, priority: int) -> dict[int, str]:
    """{enrolment id: reason} of the enrolments an exit rule of the version applies to (first rule wins)."""
    ids = [item.id for item in items]
    reasons: dict[int, str] = {}
    by_customer = {item.customer_id: item.id for item in items}
    for rule in version.exits:
        remaining = [pk for pk in ids if pk not in reasons]
        if not remaining:
            break
        kind = rule["kind"]
        hits: set[int] = set()
        if kind == "converted":
            from integrations.bank.models import ProductPurchase

            purchases = ProductPurchase.objects.filter(
                customer_id=OuterRef("customer_id"), purchased_at__gte=OuterRef("entered_at")
            )
            if rule.get("category"):
                purchases = purchases.filter(product__category=rule["category"])
            hits = set(
                Enrolment.objects.filter(pk__in=remaining).filter(Exists(purchases)).values_list("pk", flat=True)
            )
            reason = Enrolment.Reason.CONVERTED
        elif kind == "unfollowed":
            left = FollowRelationship.objects.filter(
                customer_id=OuterRef("customer_id"),
                deleted_by=FollowRelationship.DeletedBy.CUSTOMER,
                deleted_at__gte=OuterRef("entered_at"),
            )
            live = FollowRelationship.objects.filter(customer_id=OuterRef("customer_id"), deleted_at__isnull=True)
            hits = set(
                Enrolment.objects.filter(pk__in=remaining)
                .filter(Exists(left))
                .exclude(Exists(live))
                .values_list("pk", flat=True)
            )
            reason = Enrolment.Reason.UNFOLLOWED
        elif kind == "dnd":
            customers = [item.customer_id for item in items if item.id in set(remaining)]
            quiet = engine.quiet_customers(customers, at=now, priority=priority) if engine.available() else {}
            hits = {by_customer[pk] for pk in quiet}
            reason = Enrolment.Reason.DND
        else:
            customers = [item.customer_id for item in items if item.id in set(remaining)]
            matched = Customer.objects.filter(spec.criterion_q(rule["criterion"]), pk__in=customers).values_list(
                "pk", flat=True
            )
            hits = {by_customer[pk] for pk in matched}
            reason = Enrolment.Reason.CONDITION
        for pk in hits:
            reasons.setdefault(pk, reason)
    return reasons


# --- steps ------------------------------------------------------------------------------------------------------


def _finish(item: Item, now: dt.datetime, state: str, reason: str = "") -> None:
    item.state, item.exit_reason, item.finished_at = state, reason, now
    item.due_at = item.step_until = None


def _advance(item: Item, steps: list[dict], target: str, now: dt.datetime) -> bool:
    """Move to the step `target` leads to; False when the journey has ended."""
    key = spec.resolve(steps, item.step, target)
    if key is None:
        _finish(item, now, Enrolment.State.COMPLETED)
        return False
    item.step, item.step_until, item.due_at = key, None, now
    return True


def _run_step(step: dict, version: PlaybookVersion, group: list[Item], context: _Context, stats: Stats) -> list[Item]:
    """Run one step for a group at it; returns the items ready for their next step in this tick."""
    now, kind = context.now, step["type"]
    if kind in (StepType.DELAY, StepType.WAIT_UNTIL):
        done = []
        for item in group:
            if item.step_until is None:  # arriving: the wait starts now
                item.step_until = schedule.step_until(step, now)
            if item.step_until <= now:
                done.append(item)
            else:
                item.due_at = item.step_until
        outcomes = {item.id: "waited" for item in done}
        return _complete(
            step, version, done, outcomes, spread=step.get("after", spec.NEXT), context=context, stats=stats
        )
    if kind == StepType.WAIT_CONDITION:
        for item in group:
            if item.step_until is None:
                item.step_until = schedule.step_until(step, now)
        met = _matching(step["criterion"], group)
        outcomes, targets = {}, {}
        for item in group:
            if item.customer_id in met:
                outcomes[item.id], targets[item.id] = "met", step.get("after", spec.NEXT)
            elif item.step_until <= now:
                outcomes[item.id], targets[item.id] = "timeout", step["on_timeout"]
            else:
                item.due_at = min(now + schedule.CONDITION_CHECK_EVERY, item.step_until)
        moving = [item for item in group if item.id in outcomes]
        return _complete(step, version, moving, outcomes, spread=targets, context=context, stats=stats)
    if kind == StepType.BRANCH:
        met = _matching(step["criterion"], group)
        outcomes = {item.id: "then" if item.customer_id in met else "else" for item in group}
        targets = {item.id: step["then"] if item.customer_id in met else step["else"] for item in group}
        return _complete(step, version, group, outcomes, spread=targets, context=context, stats=stats)
    if kind == StepType.AB_SPLIT:
        outcomes, targets = {}, {}
        for item in group:
            arm = schedule.arm_for(step, version.playbook_id, item.customer_id)
            item.arm = arm["name"] if arm else "control"
            outcomes[item.id] = f"arm:{arm['name']}" if arm else "control"
            targets[item.id] = arm["goto"] if arm else None
        return _complete(step, version, group, outcomes, spread=targets, context=context, stats=stats)
    if kind == StepType.SEND:
        content_version = _usable_content(step)
        outcome = "done" if content_version is not None else "skipped"
        inserted = _record(version, step["key"], group, {item.id: outcome for item in group}, now)
        customers = [item.customer_id for item in group if item.id in inserted]
        if customers and content_version is not None:
            playbook = context.playbooks[version.playbook_id]
            try:
                with transaction.atomic():
                    engine.plan_sends(
                        customer_ids=customers,
                        content_version=content_version,
                        source_id=version.pk,
                        step_key=step["key"],
                        due_at=now,
                        priority=playbook.priority,
                    )
                stats.sent += len(customers)
            except engine.refusals() as error:  # e.g. the text too long with a sender's name: the journey goes on
                logger.warning("playbook version %s step %s: not planned: %s", version.pk, step["key"], error)
                _set_outcome(version, step["key"], [i for i in group if i.id in inserted], "failed")
        elif customers:
            logger.warning(
                "playbook version %s step %s: content not usable, %s sends skipped",
                version.pk,
                step["key"],
                len(customers),
            )
        return _after(step, version, group, stats, now)
    if kind == StepType.TASK:
        inserted = _record(version, step["key"], group, {item.id: "done" for item in group}, now)
        due_at = now + dt.timedelta(hours=step["due_hours"])
        refused = []
        for item in group:
            if item.id not in inserted:
                continue
            try:
                with transaction.atomic():
                    engine.create_operator_task(
                        customer_id=item.customer_id,
                        kind=step["kind"],
                        title=step["title"],
                        script=step.get("script", ""),
                        due_at=due_at,
                        source_id=version.pk,
                        step_key=step["key"],
                    )
                stats.tasks += 1
            except engine.refusals() as error:  # e.g. no active operator looks after the customer
                logger.info(
                    "playbook version %s step %s customer %s: no task: %s",
                    version.pk,
                    step["key"],
                    item.customer_id,
                    error,
                )
                refused.append(item)
        _set_outcome(version, step["key"], refused, "failed")
        return _after(step, version, group, stats, now)
    if kind == StepType.TAG:
        from tagging.tags.services import TagError, tag_add, tag_remove

        inserted = _record(version, step["key"], group, {item.id: "done" for item in group}, now)
        customers = [item.customer_id for item in group if item.id in inserted]
        if customers:
            change = tag_add if step["action"] == "add" else tag_remove
            try:
                change(customers, step["tag"], source=TagSource.EVENT, source_id=version.playbook_id)
            except TagError as error:  # the tag was deleted since the version was published
                logger.warning("playbook version %s step %s: %s", version.pk, step["key"], error.message)
        return _after(step, version, group, stats, now)
    logger.error("playbook version %s: unknown step type %r", version.pk, kind)  # pragma: no cover
    return _after(step, version, group, stats, now)  # pragma: no cover


def _after(step, version, group, stats, now) -> list[Item]:
    stats.steps += len(group)
    return [item for item in group if _advance(item, version.steps, step.get("after", spec.NEXT), now)]


def _complete(step, version, moving, outcomes, *, spread, context, stats) -> list[Item]:
    """Record the step as done for `moving` and send each where `spread` says (one target or one per item)."""
    if not moving:
        return []
    _record(version, step["key"], moving, outcomes, context.now)
    stats.steps += len(moving)
    ready = []
    for item in moving:
        target = spread if isinstance(spread, str) else spread[item.id]
        if target is None:  # the control group of an A/B split: the journey ends here
            _finish(item, context.now, Enrolment.State.COMPLETED, Enrolment.Reason.CONTROL)
        elif _advance(item, version.steps, target, context.now):
            ready.append(item)
    return ready


def _matching(criterion: dict, group: list[Item]) -> set[int]:
    customers = [item.customer_id for item in group]
    return set(
        Customer.objects.filter(spec.criterion_q(criterion), pk__in=customers).order_by().values_list("pk", flat=True)
    )


def _usable_content(step: dict):
    from campaigns.content.models import ContentItem
    from campaigns.content.selectors import usable_version

    item = ContentItem.objects.select_related("current").filter(pk=step.get("content_item")).first()
    return usable_version(item) if item is not None else None


# --- writing ---------------------------------------------------------------------------------------------------


def _record(version: PlaybookVersion, key: str, items: list[Item], outcomes: dict[int, str], now) -> set[int]:
    """Insert the step runs; returns the enrolment ids whose row THIS call inserted (the ones to act for)."""
    if not items:
        return set()
    table = quote(StepRun._meta.db_table)
    source, params = rows_source(
        [("customer_id", "int"), ("entry", "int"), ("enrolment_id", "bigint"), ("outcome", "text")],
        [(item.customer_id, item.entry, item.id, outcomes[item.id]) for item in items],
    )
    sql = (
        f"INSERT INTO {table} (version_id, step_key, customer_id, entry, enrolment_id, outcome, at)"
        f" SELECT %s, %s, r.customer_id, r.entry, r.enrolment_id, r.outcome, %s FROM ({source}) r WHERE 1 = 1"
        " ON CONFLICT DO NOTHING RETURNING enrolment_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [version.pk, key, db_time(now), *params])
        return {row[0] for row in cursor.fetchall()}


def _set_outcome(version: PlaybookVersion, key: str, items: list[Item], outcome: str) -> None:
    if items:
        StepRun.objects.filter(version=version, step_key=key, enrolment_id__in=[item.id for item in items]).update(
            outcome=outcome
        )


def _save(items: list[Item]) -> None:
    if not items:
        return
    if is_postgres():
        table = quote(Enrolment._meta.db_table)
        source, params = rows_source(
            [
                ("id", "bigint"),
                ("state", "text"),
                ("step", "text"),
                ("due_at", "timestamptz"),
                ("step_until", "timestamptz"),
                ("arm", "text"),
                ("finished_at", "timestamptz"),
                ("exit_reason", "text"),
            ],
            [(i.id, i.state, i.step, i.due_at, i.step_until, i.arm, i.finished_at, i.exit_reason) for i in items],
        )
        sql = (
            f"UPDATE {table} AS e SET state = v.state, step = v.step, due_at = v.due_at, step_until = v.step_until,"
            " arm = v.arm, finished_at = v.finished_at, exit_reason = v.exit_reason"
            f" FROM ({source}) AS v WHERE e.id = v.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    rows = [
        Enrolment(
            pk=i.id,
            state=i.state,
            step=i.step,
            due_at=i.due_at,
            step_until=i.step_until,
            arm=i.arm,
            finished_at=i.finished_at,
            exit_reason=i.exit_reason,
        )
        for i in items
    ]
    Enrolment.objects.bulk_update(
        rows, ["state", "step", "due_at", "step_until", "arm", "finished_at", "exit_reason"], batch_size=500
    )
