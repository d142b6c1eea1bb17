"""Celery tasks (queue `compute`): thin, idempotent, by id."""

from celery import shared_task

from tagging.segments import services
from tagging.segments.evaluation import rule_run_execute


# A first evaluation at tens of millions of customers writes millions of rows: longer than the default limits.
# Chunks already applied stay applied; a run cut short is finished by the next one (the difference is what is left).
@shared_task(
    name="tagging.segments.tasks.evaluate_rule", acks_late=True, soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60
)
def evaluate_rule(run_id: int) -> None:
    rule_run_execute(run_id=run_id)


@shared_task(name="tagging.segments.tasks.dispatch")
def dispatch() -> None:
    """Every minute from beat: queue the rules that are due; refresh bitmaps that are stale."""
    services.rules_dispatch_due()
    services.rule_runs_fail_abandoned()
    if services.bitmaps_stale():
        rebuild_bitmaps.delay()


@shared_task(name="tagging.segments.tasks.rebuild_bitmaps", acks_late=True, soft_time_limit=1800, time_limit=1860)
def rebuild_bitmaps(attributes: bool | None = None) -> None:
    """Rebuild stale bitmaps; `attributes=True` forces the attribute buckets (after an import)."""
    services.bitmaps_refresh(attributes=attributes)
