"""Celery tasks of supervision. Thin: each calls one service.

- `compute_facts` (beat, queue compute): attribute new purchases, compute the closed days not computed yet and
  refresh yesterday — harmless to run again;
- `recompute_days` (queue compute): the days whose behaviour data just arrived;
- `fetch_behavior` (beat, queue wecom): WeCom's behaviour data for the days not fetched yet; comes back later
  when WeCom refuses for now, or straight away when its time budget ran out with work left.
"""

from datetime import date

from celery import shared_task
from django.core.cache import cache
from django.db import transaction

from workbench.supervision import behavior, services

MAX_DAYS_BACK = 31
RETRY_AFTER_SECONDS = 600  # WeCom said "not now" (45033, 45009, -1, 5xx): ask again in ten minutes
FETCH_LOCK = "supervision:fetch-behavior"
FETCH_LOCK_SECONDS = 660  # the task's hard time limit: a killed run's lock does not outlive it


@shared_task(name="workbench.supervision.tasks.compute_facts", queue="compute")
def compute_facts() -> list[str]:
    return [day.isoformat() for day in services.compute_closed_days(max_days_back=MAX_DAYS_BACK)]


@shared_task(name="workbench.supervision.tasks.recompute_days", queue="compute")
def recompute_days(days: list[str]) -> int:
    return sum(services.compute_day(date.fromisoformat(day)) for day in sorted(set(days)))


@shared_task(name="workbench.supervision.tasks.fetch_behavior", queue="wecom")
def fetch_behavior() -> dict:
    if not cache.add(FETCH_LOCK, 1, FETCH_LOCK_SECONDS):
        return {"skipped": "another fetch is running"}
    try:
        result = behavior.fetch_behavior()
    finally:
        cache.delete(FETCH_LOCK)
    if result.days_stored:
        days = [day.isoformat() for day in sorted(result.days_stored)]
        transaction.on_commit(lambda: recompute_days.delay(days))
    if result.pending:
        # Out of time: continue now. Refused by WeCom: the days stay missing and are asked for later.
        transaction.on_commit(lambda: fetch_behavior.apply_async(countdown=RETRY_AFTER_SECONDS if result.error else 0))
    return {"calls": result.calls, "rows": result.rows, "pending": result.pending, "error": result.error}
