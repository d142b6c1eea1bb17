"""Celery tasks of the callbacks: thin, by id, on the `callbacks` queue (routed by the name prefix).

Priorities (Redis: 0 is served first): the welcome message must leave within its code's 20 seconds, so it
goes ahead of the processing of every event already waiting.
"""

import logging

from celery import shared_task

from integrations.wecom.callbacks import services

logger = logging.getLogger(__name__)

WELCOME_PRIORITY = 0
PROCESS_PRIORITY = 6
# The task's own retries cover a few minutes; a longer outage is picked up again by reprocess_stuck.
PROCESS_MAX_RETRIES = 3


@shared_task(
    name="integrations.wecom.callbacks.process_event",
    bind=True,
    acks_late=True,
    max_retries=PROCESS_MAX_RETRIES,
    priority=PROCESS_PRIORITY,
)
def process_event(self, event_id: int) -> None:
    try:
        services.process_callback(event_id=event_id)
    except services.RETRYABLE as exc:
        if self.request.retries >= self.max_retries:
            logger.warning("WeCom callback %s still failing after %d retries: %s", event_id, self.max_retries, exc)
            return  # left `received`: reprocess_stuck takes it up again
        raise self.retry(exc=exc, countdown=services.retry_delay(self.request.retries)) from exc


@shared_task(name="integrations.wecom.callbacks.send_welcome", acks_late=True, priority=WELCOME_PRIORITY)
def send_welcome(event_id: int) -> None:
    services.send_callback_welcome(event_id=event_id)


@shared_task(name="integrations.wecom.callbacks.reprocess_stuck", priority=PROCESS_PRIORITY)
def reprocess_stuck() -> int:
    return services.reprocess_stuck_callbacks()
