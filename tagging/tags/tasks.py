"""Celery tasks of the tag system. Thin: each takes ids, calls one service and returns.

Names under `integrations.wecom.` are routed to the `wecom` queue (every WeCom call); the rest run on `compute`.
Registered through `tagging/tasks.py` (Celery's autodiscovery looks there).
"""

import logging

from celery import shared_task

from tagging.models import Tag, TagSource
from tagging.tags import bulk, wecom
from tagging.tags.services import tag_clear

logger = logging.getLogger(__name__)


@shared_task(name="integrations.wecom.tag_push", acks_late=True)
def tag_push() -> dict:
    """Send due `mark_tag` pushes for about a minute; go on in a new task when more are due."""
    run = wecom.push_pending()
    if run.more:
        tag_push.apply_async()
    elif run.retry_after is not None:
        tag_push.apply_async(countdown=max(1, round(run.retry_after)))
    else:
        wecom.purge_settled()  # idle: a little housekeeping
    return {"calls": run.calls, "done": run.done, "failed": run.failed, "skipped": run.skipped}


@shared_task(name="integrations.wecom.tag_sync_library", acks_late=True, autoretry_for=(Exception,), max_retries=5,
             retry_backoff=True)  # fmt: skip
def tag_sync_library() -> dict:
    """Create, rename and delete in WeCom every group and tag still waiting for it."""
    return dict(wecom.sync_library())


@shared_task(name="tagging.tags.clear_tag", acks_late=True)
def clear_tag(tag_id: int, actor_id: int | None = None, source: str = TagSource.MANUAL) -> int:
    """Take a deleted tag from every customer who still has it (in chunks, each removal in the history)."""
    from django.contrib.auth import get_user_model

    tag = Tag.objects.filter(pk=tag_id, is_active=False).first()
    if tag is None:  # gone, or active again: nothing to clear
        return 0
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return tag_clear(tag, source=source, actor=actor)


@shared_task(name="tagging.tags.run_bulk_job", acks_late=True, soft_time_limit=3600, time_limit=3660)
def run_bulk_job(job_id: int) -> None:
    bulk.bulk_job_run(job_id=job_id)
