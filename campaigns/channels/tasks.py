"""Celery tasks of channel codes: thin, by id, on the `wecom` queue (each one calls WeCom)."""

from celery import shared_task

from campaigns.channels import services
from campaigns.channels.selectors import welcome_assets
from campaigns.content.media import refresh_stale


@shared_task(name="campaigns.channels.tasks.push_code", queue="wecom")
def push_code(code_id: int) -> None:
    services.channel_code_push(code_id=code_id)


@shared_task(name="campaigns.channels.tasks.push_due", queue="wecom")
def push_due() -> dict:
    """Beat, every 2 minutes: codes WeCom has not taken yet or whose members changed (daily caps, a new day);
    and the welcome messages' media uploaded again before they get old, so that no upload has to happen inside
    a welcome code's 20 seconds."""
    return {"codes": services.push_due(), "media": refresh_stale(welcome_assets())}
