"""One-off broadcasts: at the chosen time the segment is frozen and its members planned.

The choice, for speed at a million members: a broadcast whose only step is one send is handed to the engine in
ONE `plan_sends` call with every member (COPY-based there) — no enrolments, no step runs, nothing per customer on
our side ("direct" mode). Any other broadcast (several steps, an A/B split, a task …) enrols the members, set-based
in chunks, due at the chosen time, and the tick runs them like any other journey ("enrolments" mode).

A `Broadcast` row (one per version) is written before any work and says how far it got; a worker that died leaves
it "planning" with an old heartbeat and the next scan runs it again — the snapshot is kept on the row and
`plan_sends` / enrolment are idempotent, so nobody is planned twice.
"""

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone
from pyroaring import BitMap

from campaigns.playbooks import engine, spec
from campaigns.playbooks.enrol import enrol
from campaigns.playbooks.models import Broadcast, PlaybookVersion
from tagging.models import Customer

logger = logging.getLogger(__name__)

CHUNK = 20_000
STALE = dt.timedelta(minutes=10)


def broadcast_request(*, version: PlaybookVersion, now: dt.datetime) -> Broadcast | None:
    """Start the version's broadcast once: the row, then the task after commit. A stale one is started again."""
    from campaigns.playbooks.tasks import run_broadcast

    existing = Broadcast.objects.filter(version=version).first()
    if existing is not None:
        stale = (
            existing.status == Broadcast.Status.PLANNING
            and (existing.heartbeat_at or existing.started_at) < now - STALE
        )
        if not stale:
            return None
        Broadcast.objects.filter(pk=existing.pk).update(heartbeat_at=now)
        transaction.on_commit(lambda: run_broadcast.delay(version.pk))
        return existing
    try:
        with transaction.atomic():
            broadcast = Broadcast.objects.create(version=version, started_at=now, heartbeat_at=now)
    except IntegrityError:  # another scan got there first
        return None
    transaction.on_commit(lambda: run_broadcast.delay(version.pk))
    return broadcast


def broadcast_run(*, version_id: int, now: dt.datetime | None = None) -> Broadcast | None:
    from campaigns.playbooks.enrol import may_enrol
    from tagging.segments.models import Segment
    from tagging.segments.services import segment_snapshot

    now = now or timezone.now()
    broadcast = Broadcast.objects.select_related("version__playbook", "snapshot").filter(version_id=version_id).first()
    if broadcast is None or broadcast.status != Broadcast.Status.PLANNING:
        return broadcast
    version = broadcast.version
    if not may_enrol(version):
        return _fail(broadcast, "the playbook is no longer active")
    trigger = version.trigger
    if broadcast.snapshot_id is None:
        segment = Segment.objects.filter(pk=trigger.get("segment")).first()
        if segment is None:
            return _fail(broadcast, "the segment was deleted")
        playbook = version.playbook
        # Playbooks are whole-bank (head office manages them): the system freezes the segment for the whole bank.
        snapshot = segment_snapshot(segment, purpose=f"playbook {playbook.pk} “{playbook.name}” v{version.number}")
        Broadcast.objects.filter(pk=broadcast.pk).update(snapshot=snapshot, members=snapshot.count, heartbeat_at=now)
        broadcast.snapshot, broadcast.members = snapshot, snapshot.count
    members = broadcast.snapshot.member_ids()
    at = max(spec.broadcast_at(trigger) or now, now)
    spec_dict = {"trigger": trigger, "steps": version.steps}
    if spec.is_direct_broadcast(spec_dict):
        ids = _eligible(version, members)
        step = version.steps[0]
        content_version = _usable(step)
        if content_version is None:
            return _fail(broadcast, "the content has no approved, unexpired version")
        result = engine.plan_sends(
            customer_ids=ids,
            content_version=content_version,
            source_id=version.pk,
            step_key=step["key"],
            due_at=at,
            priority=version.playbook.priority,
            actor=version.published_by,
        )
        fields = {
            "mode": "direct",
            "planned": getattr(result, "planned", 0),
            "suppressed": getattr(result, "suppressed", 0),
            "deferred": getattr(result, "deferred", 0),
        }
    else:
        enrolled = 0
        ordered = list(members)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            enrolled += len(enrol(version, [(pk, "broadcast", at) for pk in chunk], now=now))
            Broadcast.objects.filter(pk=broadcast.pk).update(heartbeat_at=timezone.now(), enrolled=enrolled)
        fields = {"mode": "enrolments", "enrolled": enrolled}
    Broadcast.objects.filter(pk=broadcast.pk).update(
        status=Broadcast.Status.DONE, finished_at=timezone.now(), heartbeat_at=timezone.now(), **fields
    )
    broadcast.refresh_from_db()
    return broadcast


def _eligible(version: PlaybookVersion, members: BitMap) -> list[int]:
    """The members who may be sent to: the audience criteria and the exit conditions that already hold."""
    criteria = list(version.audience)
    blocked = [rule["criterion"] for rule in version.exits if rule["kind"] == "criterion"]
    if not criteria and not blocked:
        return list(members)
    q = spec.audience_q(criteria)
    for criterion in blocked:
        q &= ~spec.criterion_q(criterion)
    ids: list[int] = []
    ordered = list(members)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        ids += Customer.objects.filter(q, pk__in=chunk).order_by("pk").values_list("pk", flat=True)
    return ids


def _usable(step: dict):
    from campaigns.content.models import ContentItem
    from campaigns.content.selectors import usable_version

    item = ContentItem.objects.select_related("current").filter(pk=step.get("content_item")).first()
    return usable_version(item) if item is not None else None


def _fail(broadcast: Broadcast, error: str) -> Broadcast:
    logger.warning("broadcast of version %s failed: %s", broadcast.version_id, error)
    Broadcast.objects.filter(pk=broadcast.pk).update(
        status=Broadcast.Status.FAILED, error=error, finished_at=timezone.now()
    )
    broadcast.refresh_from_db()
    return broadcast
