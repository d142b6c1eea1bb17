"""Celery tasks of playbooks (queue `compute`): thin, idempotent, by id.

Beat runs `tick` every 30 seconds and `scan_triggers` every minute (workbench/celery.py). Long delays are rows
with a due time (`Enrolment.due_at`), never Celery ETAs.
"""

from celery import shared_task
from django.utils import timezone

from campaigns.playbooks import broadcasts, runner, triggers


@shared_task(name="campaigns.playbooks.tasks.tick")
def tick() -> dict:
    """Run every due step (claimed with SKIP LOCKED, so overlapping ticks share the work)."""
    return runner.tick()


@shared_task(name="campaigns.playbooks.tasks.scan_triggers")
def scan_triggers() -> dict:
    """Turn new tag changes, payroll credits, dates, segment entries and due broadcasts into enrolments."""
    now = timezone.now()
    counts = triggers.scan(now)
    for version_id in triggers.broadcasts_stale(now):
        run_broadcast.delay(version_id)
    return counts


@shared_task(name="campaigns.playbooks.tasks.run_broadcast", acks_late=True)
def run_broadcast(version_id: int) -> None:
    broadcasts.broadcast_run(version_id=version_id)


@shared_task(name="campaigns.playbooks.tasks.check_segment_entries")
def check_segment_entries() -> dict:
    """For callers that just finished an evaluation and want segment-entry playbooks to react at once."""
    return triggers.segment_entries_check()
