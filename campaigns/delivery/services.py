"""Writes of the delivery engine that playbooks and pages call (docs/delivery-contract.md is the interface).

- `plan_sends` writes one Delivery per customer, unique on (source_kind, source_id, step_key, customer), after the
  contact policy: a million customers in one INSERT … SELECT from a COPY-filled temporary table.
- `create_operator_task` and the task transitions (done, postponed, cancelled).

Dispatching to WeCom is in `dispatch.py`, reading results back in `results.py`, reminders in `reminders.py`.
"""

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.content import variables
from campaigns.content.models import TEXT_MAX_BYTES, ContentItem, ContentVersion
from campaigns.delivery import db, policy
from campaigns.delivery.models import Delivery, OperatorTask, Reason, SendTask, Suppression
from campaigns.delivery.selectors import delivery_funnel  # noqa: F401 - in the contract (docs/delivery-contract.md)
from tagging.models import Customer, FollowRelationship
from workbench.org.models import Operator

SOURCE_KIND_MAX = 16
STEP_KEY_MAX = 64
# A plan this big, due now, is grouped into send tasks in the same transaction (a broadcast: one call with every
# customer). Smaller plans — a playbook's tick plans a step in batches — wait for the tick, which groups all that is
# due of one sender into one task, so an operator confirms one mass send rather than one per batch.
GROUP_AT_ONCE = 10_000
_tables = itertools.count()


class DeliveryError(ValueError):
    """The request cannot be carried out; the message is for the user as it is."""


@dataclass(frozen=True)
class PlanResult:
    planned: int  # deliveries written that will be sent (deferred ones included)
    suppressed: int  # deliveries written as suppressed, with their reason
    deferred: int  # of the planned: due time moved by quiet hours
    existing: int = 0  # ids whose business key was planned before, or that name no customer: nothing written
    reasons: dict | None = None  # suppression reason → count


def usable_mass_content(version: ContentVersion, *, at: datetime | None = None) -> None:
    """Raise DeliveryError unless `version` is its item's approved, unexpired version in use, for mass sends."""
    item = version.item
    at = at or timezone.now()
    if version.status != ContentVersion.Status.APPROVED or item.current_id != version.pk or version.is_expired(at):
        raise DeliveryError(_("Only the approved, unexpired version in use of a content item may be sent."))
    if item.use != ContentItem.Use.MASS:
        raise DeliveryError(_("%(title)s is not content for mass sends.") % {"title": item.title})


def _check_key(source_kind: str, source_id: int, step_key: str) -> None:
    if not source_kind or len(source_kind) > SOURCE_KIND_MAX:
        raise DeliveryError(f"source_kind must be 1 to {SOURCE_KIND_MAX} characters")
    if not step_key or len(step_key) > STEP_KEY_MAX:
        raise DeliveryError(f"step_key must be 1 to {STEP_KEY_MAX} characters")
    if not isinstance(source_id, int):
        raise DeliveryError("source_id must be an integer")


def _render_check(version: ContentVersion, sender_ids: Iterable[int]) -> None:
    """The text once per sender: every variable filled, within WeCom's 4000 bytes (links are added per task)."""
    for operator in Operator.objects.filter(pk__in=list(sender_ids)).select_related("branch"):
        text = variables.fill(version.text, variables.sender_values(operator))
        if variables.used(text):
            raise DeliveryError(
                _("The text still has variables without a value: %(keys)s.") % {"keys": variables.used(text)}
            )
        if len(text.encode()) > TEXT_MAX_BYTES:
            raise DeliveryError(
                _("With %(name)s's details filled in the text exceeds WeCom's 4000 bytes.") % {"name": operator.name}
            )


_PLAN_INSERT = """
INSERT INTO delivery_delivery (source_kind, source_id, step_key, customer_id, sender_id, content_version_id,
                               priority, status, reason, due_at, created_at)
SELECT %(key_kind)s, %(key_id)s, %(key_step)s, v.customer_id, v.sender_id, %(version)s, %(priority)s,
       CASE WHEN v.reason = '' THEN 'planned' ELSE 'suppressed' END,
       CASE WHEN v.reason = '' THEN %(defer_reason)s ELSE v.reason END,
       %(due)s, %(now)s
FROM ({verdict}) v
WHERE 1 = 1
ORDER BY v.customer_id
ON CONFLICT (source_kind, source_id, step_key, customer_id) DO NOTHING
RETURNING customer_id, sender_id, status, reason
"""

# Rows go in in customer order: the indexes that lead with the customer then grow at their right edge, as under
# COPY, instead of taking a random page per row (twice as slow at a million).
# A broadcast due now: the verdict once into a temporary table, send tasks per sender (≤ 10,000 each), then the
# deliveries straight into them (status queued) — the policy has just been checked, in this very transaction.
_DIRECT_VERDICT = """
SELECT v.customer_id, v.sender_id, v.reason FROM ({verdict}) v
WHERE NOT EXISTS (SELECT 1 FROM delivery_delivery e WHERE e.source_kind = %(key_kind)s AND e.source_id = %(key_id)s
                  AND e.step_key = %(key_step)s AND e.customer_id = v.customer_id)
"""

_DIRECT_INSERT = """
INSERT INTO delivery_delivery (source_kind, source_id, step_key, customer_id, sender_id, content_version_id,
                               priority, status, reason, due_at, created_at, send_task_id)
SELECT %(key_kind)s, %(key_id)s, %(key_step)s, v.customer_id, v.sender_id, %(version)s, %(priority)s,
       CASE WHEN v.reason = '' THEN 'queued' ELSE 'suppressed' END, v.reason, %(now)s, %(now)s, t.task_id
FROM (SELECT customer_id, sender_id, reason,
             (ROW_NUMBER() OVER (PARTITION BY sender_id, reason ORDER BY customer_id) - 1) / {size} AS chunk
      FROM {verdict_table}) v
LEFT JOIN {tasks_table} t ON v.reason = '' AND t.sender_id = v.sender_id AND t.chunk = v.chunk
WHERE 1 = 1
ORDER BY v.customer_id
ON CONFLICT (source_kind, source_id, step_key, customer_id) DO NOTHING
RETURNING customer_id, sender_id, status, reason
"""

# PostgreSQL: the rows just inserted never leave the server; the history rows and the counts come from them.
_PLAN_PG = """
WITH ins AS ({insert}),
history AS (
    INSERT INTO delivery_suppression (customer_id, at, action, reason, until, kind, source_kind, source_id, step_key)
    SELECT customer_id, %(now)s, CASE WHEN status = 'suppressed' THEN 'suppressed' ELSE 'deferred' END, reason,
           CASE WHEN status = 'suppressed' THEN NULL ELSE %(due)s END, 'mass_send', %(key_kind)s, %(key_id)s,
           %(key_step)s
    FROM ins WHERE status = 'suppressed' OR reason = 'quiet_hours'
)
SELECT status, reason, sender_id, COUNT(*) FROM ins GROUP BY status, reason, sender_id
"""


def plan_sends(
    *,
    customer_ids: Sequence[int],
    content_version,
    source_kind: str,
    source_id: int,
    step_key: str,
    due_at: datetime,
    priority: int = 5,
    actor=None,
) -> PlanResult:
    """One Delivery per customer for this step, after the contact policy; planning the same key again is a no-op.

    Suppressed customers get a Delivery with status `suppressed` and the reason (and a Suppression row); in quiet
    hours every delivery's due time moves to the window's end. The content is checked once per sender now; it is
    rendered per send task when dispatched (tracked links are made per task)."""
    _check_key(source_kind, source_id, step_key)
    if not 1 <= int(priority) <= 9:
        raise DeliveryError(_("Priority goes from 1 (most important) to 9."))
    version = (
        content_version
        if isinstance(content_version, ContentVersion)
        else ContentVersion.objects.select_related("item").get(pk=content_version)
    )
    now = timezone.now()
    usable_mass_content(version, at=max(now, due_at))
    ids = sorted({int(pk) for pk in customer_ids})
    rules = policy.get_policy()
    deferred_to = policy.quiet_until(rules, due_at)
    due = deferred_to or due_at
    key = (source_kind, source_id, step_key)
    params = policy.verdict_params(policy=rules, at=due, kind=policy.KIND_MASS_SEND, key=key) | {
        "priority": int(priority),
        "version": version.pk,
        "defer_reason": Reason.QUIET_HOURS.value if deferred_to else "",
        "due": db.dt(due),
        "now": db.dt(now),
    }
    counts: Counter = Counter()
    senders: set[int] = set()
    direct = deferred_to is None and due_at <= now and len(ids) >= GROUP_AT_ONCE
    with transaction.atomic(), connection.cursor() as cursor:
        policy.tune(cursor, bulk=True)
        if ids:
            with db.temp_table(cursor, "customer_id integer", ((pk,) for pk in ids)) as ids_table:
                verdict = policy.verdict_sql(policy.customers_source(ids_table))
                if direct:
                    insert = _direct_insert(cursor, verdict, params, rules=rules, now=now, version=version, key=key)
                else:
                    insert = _PLAN_INSERT.format(verdict=verdict)
                if db.is_postgres():
                    cursor.execute(_PLAN_PG.format(insert=insert.strip()), params)
                    grouped = cursor.fetchall()
                else:  # SQLite (the demo): RETURNING, then the history rows from Python
                    cursor.execute(insert, params)
                    inserted = cursor.fetchall()
                    grouped = [(status, reason, sender, 1) for _customer, sender, status, reason in inserted]
                    policy_history(inserted, now=now, due=due, key=key)
        for status, reason, sender_id, n in grouped if ids else []:
            if status == Delivery.Status.QUEUED:
                status = Delivery.Status.PLANNED  # planned, and already in its send task
            counts[(status, reason)] += n
            if status == Delivery.Status.PLANNED and sender_id is not None:
                senders.add(sender_id)
        _render_check(version, senders)
    planned = sum(n for (status, _reason), n in counts.items() if status == Delivery.Status.PLANNED)
    suppressed = {reason: n for (status, reason), n in counts.items() if status == Delivery.Status.SUPPRESSED}
    written = planned + sum(suppressed.values())
    return PlanResult(
        planned=planned,
        suppressed=sum(suppressed.values()),
        deferred=planned if deferred_to else 0,
        existing=len(ids) - written,
        reasons=suppressed,
    )


def _direct_insert(cursor, verdict: str, params: dict, *, rules, now, version, key) -> str:
    """The verdict into a temporary table and the send tasks it needs; returns the INSERT of the deliveries."""
    from campaigns.delivery.dispatch import TASK_RECIPIENTS_MAX, create_tasks, task_deadline

    name = f"delivery_verdict_{next(_tables)}"
    drop = " ON COMMIT DROP" if db.is_postgres() else ""
    cursor.execute(f"CREATE TEMP TABLE {name}{drop} AS {_DIRECT_VERDICT.format(verdict=verdict)}", params)
    if db.is_postgres():
        cursor.execute(f"ANALYZE {name}")
    cursor.execute(f"SELECT sender_id, COUNT(*) FROM {name} WHERE reason = '' GROUP BY sender_id")
    deadline = task_deadline(rules, now)
    chunks, tasks = [], []
    for sender_id, n in cursor.fetchall():
        for chunk, start in enumerate(range(0, n, TASK_RECIPIENTS_MAX)):
            chunks.append((sender_id, chunk))
            tasks.append(
                SendTask(
                    source_kind=key[0],
                    source_id=key[1],
                    step_key=key[2],
                    sender_id=sender_id,
                    content_version_id=version.pk,
                    recipients=min(TASK_RECIPIENTS_MAX, n - start),
                    deadline_at=deadline,
                    next_attempt_at=now,
                )
            )
    rows = [(sender_id, chunk, task.pk) for (sender_id, chunk), task in zip(chunks, create_tasks(tasks), strict=True)]
    tasks_table = f"delivery_tasks_{next(_tables)}"
    columns = "sender_id bigint, chunk integer, task_id bigint"
    if db.is_postgres():
        cursor.execute(f"CREATE TEMP TABLE {tasks_table} ({columns}) ON COMMIT DROP")
        with cursor.cursor.copy(f"COPY {tasks_table} (sender_id, chunk, task_id) FROM STDIN") as copy:
            copy.write("".join(f"{s}\t{c}\t{t}\n" for s, c, t in rows))
    else:
        cursor.execute(f"CREATE TEMP TABLE {tasks_table} ({columns})")
        cursor.executemany(f"INSERT INTO {tasks_table} VALUES (%s, %s, %s)", rows)
    return _DIRECT_INSERT.format(size=TASK_RECIPIENTS_MAX, verdict_table=name, tasks_table=tasks_table)


def policy_history(inserted, *, now, due, key) -> None:
    """Suppression rows for the suppressed and deferred deliveries among `inserted` (customer, sender, status,
    reason) rows."""
    rows = [
        Suppression(
            customer_id=customer_id,
            at=now,
            action="suppressed" if status == Delivery.Status.SUPPRESSED else "deferred",
            reason=reason,
            until=None if status == Delivery.Status.SUPPRESSED else due,
            kind=policy.KIND_MASS_SEND,
            source_kind=key[0],
            source_id=key[1],
            step_key=key[2],
        )
        for customer_id, _sender, status, reason in inserted
        if status == Delivery.Status.SUPPRESSED or reason == Reason.QUIET_HOURS
    ]
    Suppression.objects.bulk_create(rows, batch_size=2000)


# --- operator tasks (待办) -------------------------------------------------------------------------------------


def _task_operator(customer: Customer) -> Operator | None:
    """The customer's owner when active; else the operator of their newest live follow."""
    if customer.owner_id and customer.owner.status == Operator.Status.ACTIVE:
        return customer.owner
    follow = (
        FollowRelationship.objects.filter(
            customer=customer, deleted_at__isnull=True, operator__status=Operator.Status.ACTIVE
        )
        .select_related("operator")
        .order_by("-added_at", "-pk")
        .first()
    )
    return follow.operator if follow else None


def create_operator_task(
    *,
    customer_id: int,
    operator_id: int | None = None,
    kind: str,
    title: str,
    script: str = "",
    due_at: datetime,
    source_kind: str,
    source_id: int,
    step_key: str,
) -> OperatorTask:
    """A to-do for the customer's operator, unique on (source_kind, source_id, step_key, customer): asked again,
    the existing task is returned. A customer in do-not-disturb or opted out gets the task already cancelled
    (and a Suppression row), so that the business key still says it was decided."""
    _check_key(source_kind, source_id, step_key)
    if kind not in OperatorTask.Kind.values:
        raise DeliveryError(f"kind must be one of {OperatorTask.Kind.values}")
    existing = OperatorTask.objects.filter(
        source_kind=source_kind, source_id=source_id, step_key=step_key, customer_id=customer_id
    ).first()
    if existing is not None:
        return existing
    customer = Customer.objects.select_related("owner").get(pk=customer_id)
    operator = Operator.objects.get(pk=operator_id) if operator_id else _task_operator(customer)
    if operator is None:
        raise DeliveryError(_("No active operator looks after %(customer)s.") % {"customer": customer.name})
    verdict_kind = policy.KIND_MESSAGE if kind == OperatorTask.Kind.MESSAGE else policy.KIND_TASK
    verdict = policy.check([customer_id], at=due_at, priority=5, kind=verdict_kind)
    reason = verdict.suppressed.get(customer_id, "")
    if reason in (Reason.NO_RELATIONSHIP, Reason.UNMATCHED):
        reason = ""  # the operator can still call, or reach them another way
    task = OperatorTask(
        customer=customer,
        operator=operator,
        kind=kind,
        title=title[:100],
        script=script,
        due_at=due_at,
        original_due_at=due_at,
        source_kind=source_kind,
        source_id=source_id,
        step_key=step_key,
    )
    if reason:
        task.status = OperatorTask.Status.CANCELLED
        task.outcome_note = str(Reason(reason).label)
    try:
        with transaction.atomic():
            task.save()
            if reason:
                policy.record(
                    customer_ids=[customer_id],
                    action=Suppression.Action.SUPPRESSED,
                    reason=reason,
                    source_kind=source_kind,
                    source_id=source_id,
                    step_key=step_key,
                    kind=verdict_kind,
                )
    except IntegrityError:  # created at the same moment by another worker
        return OperatorTask.objects.get(
            source_kind=source_kind, source_id=source_id, step_key=step_key, customer_id=customer_id
        )
    return task


def confirm_task_for(send_task) -> OperatorTask:
    """The operator's to-do of confirming a mass send in the WeCom client (done when WeCom says it was sent)."""
    rules = policy.get_policy()
    task, _created = OperatorTask.objects.get_or_create(
        source_kind="send_task",
        source_id=send_task.pk,
        step_key="confirm",
        customer=None,
        defaults={
            "operator_id": send_task.sender_id,
            "kind": OperatorTask.Kind.CONFIRM_SEND,
            "title": _("Confirm the mass send to %(n)s customers in WeCom") % {"n": send_task.accepted},
            "due_at": timezone.now() + timedelta(minutes=rules.remind_after_minutes),
            "original_due_at": timezone.now() + timedelta(minutes=rules.remind_after_minutes),
        },
    )
    return task


def close_confirm_task(send_task_id: int, *, sent: bool) -> None:
    OperatorTask.objects.filter(
        source_kind="send_task", source_id=send_task_id, step_key="confirm", status__in=OperatorTask.PENDING
    ).update(
        status=OperatorTask.Status.DONE if sent else OperatorTask.Status.CANCELLED,
        outcome=OperatorTask.Outcome.COMPLETED if sent else "",
        done_at=timezone.now(),
    )


def task_done(*, task: OperatorTask, actor, outcome: str, note: str = "") -> OperatorTask:
    if outcome not in OperatorTask.Outcome.values:
        raise DeliveryError(_("Choose an outcome."))
    if not task.is_pending:
        raise DeliveryError(_("This task is closed already."))
    task.status = OperatorTask.Status.DONE
    task.outcome = outcome
    task.outcome_note = (note or "")[:500]
    task.done_at = timezone.now()
    task.done_by = actor if getattr(actor, "is_authenticated", False) else None
    task.save(update_fields=["status", "outcome", "outcome_note", "done_at", "done_by"])
    return task


def task_postpone(*, task: OperatorTask, actor, until: datetime, note: str = "") -> OperatorTask:
    if not task.is_pending:
        raise DeliveryError(_("This task is closed already."))
    if until <= timezone.now():
        raise DeliveryError(_("Postpone to a time in the future."))
    if until > timezone.now() + timedelta(days=90):
        raise DeliveryError(_("Postpone by at most 90 days."))
    task.status = OperatorTask.Status.POSTPONED
    task.due_at = until
    task.postponed_count += 1
    task.last_reminded_at = None  # the new due time is reminded again
    if note:
        task.outcome_note = note[:500]
    task.save(update_fields=["status", "due_at", "postponed_count", "last_reminded_at", "outcome_note"])
    return task


def tasks_cancel(*, source_kind: str, source_id: int, customer_id: int | None = None, note: str = "") -> int:
    """Cancel the open tasks of a source (a playbook a customer left, say); returns how many."""
    tasks = OperatorTask.objects.filter(source_kind=source_kind, source_id=source_id, status__in=OperatorTask.PENDING)
    if customer_id is not None:
        tasks = tasks.filter(customer_id=customer_id)
    return tasks.update(status=OperatorTask.Status.CANCELLED, outcome_note=note[:500], done_at=timezone.now())
