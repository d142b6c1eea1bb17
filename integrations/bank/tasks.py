"""Thin tasks: the import runner, and beat's housekeeping (lost messages, killed workers, old uploads)."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from integrations.bank.services import imports_purge_files, imports_run, imports_wake_stale


@shared_task(name="integrations.bank.tasks.run_imports", acks_late=True)
def run_imports() -> None:
    """Process waiting imports for a few minutes; hand over to a fresh task while work is left."""
    try:
        more = imports_run()
    except SoftTimeLimitExceeded:
        more = True  # the interrupted chunk was rolled back; the next run writes it again
    if more:
        run_imports.delay()


@shared_task(name="integrations.bank.tasks.imports_housekeeping")
def imports_housekeeping() -> None:
    """Every few minutes (beat): wake jobs that wait or stopped moving; delete old failed jobs' uploads."""
    imports_wake_stale()
    imports_purge_files()
