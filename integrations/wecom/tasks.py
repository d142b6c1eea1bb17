"""Celery tasks of the WeCom integration (queue `wecom`). Thin: each starts a service and returns."""

from collections import Counter
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from integrations.wecom import sync, transfers
from integrations.wecom.callbacks import tasks as callback_tasks  # noqa: F401 - registers the callback tasks
from integrations.wecom.client import get_client
from integrations.wecom.models import SyncRun
from tagging.tags.wecom import apply_corp_tags

# A full sync of a large bank outlives the default ten-minute limit.
SYNC_TIME_LIMIT = 3 * 3600


@shared_task(name="integrations.wecom.tasks.run_sync", soft_time_limit=SYNC_TIME_LIMIT, time_limit=SYNC_TIME_LIMIT + 60)
def run_sync(run_id: int) -> None:
    run = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).first()
    if run is not None:  # a redelivered message finds the run already started or done
        sync.run_sync(run)


def start_sync(*, kind: str, requested_by=None) -> SyncRun:
    """Queue a sync unless one is queued or running already (that one is returned instead)."""
    with transaction.atomic():
        # A run whose worker died keeps `running`; past the task's hard limit it cannot still be alive.
        SyncRun.objects.filter(
            status=SyncRun.Status.RUNNING, started_at__lt=timezone.now() - timedelta(seconds=SYNC_TIME_LIMIT + 60)
        ).update(status=SyncRun.Status.FAILED, error="worker lost", finished_at=timezone.now())
        current = (
            SyncRun.objects.select_for_update()
            .filter(status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING])
            .order_by("-created_at")
            .first()
        )
        if current is not None:
            return current
        run = SyncRun.objects.create(kind=kind, requested_by=requested_by)
        transaction.on_commit(lambda: run_sync.delay(run.pk))
    return run


@shared_task(name="integrations.wecom.tasks.incremental_sync")
def incremental_sync() -> None:
    start_sync(kind=SyncRun.Kind.INCREMENTAL)


@shared_task(
    name="integrations.wecom.tasks.sync_corp_tags",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=5,
)
def sync_corp_tags() -> dict:
    stats = Counter()
    sync.sync_corp_tags(get_client(), stats)
    stats.update(apply_corp_tags())  # corp tags created, renamed or deleted in WeCom → the tag library
    return dict(stats)


@shared_task(name="integrations.wecom.tasks.poll_transfers")
def poll_transfers() -> int:
    return transfers.poll_transfer_results()
