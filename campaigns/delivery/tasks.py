"""Celery tasks of the delivery engine. Thin: each runs one service and returns its counts.

Beat runs the ticks (workbench/celery.py); every tick re-derives its work from PostgreSQL rows, so a lost message
(a Redis restart, a worker killed) costs one tick, never a delivery. Calls to WeCom run on the `wecom` queue.
"""

from celery import shared_task
from django.conf import settings

from campaigns.delivery import dispatch, reminders, results


def _senders() -> int:
    return int(getattr(settings, "DELIVERY_SENDERS", 4))


@shared_task(name="campaigns.delivery.tasks.dispatch_due")
def dispatch_due() -> dict:
    """Due deliveries → send tasks; then as many sender loops as there is work for (at most DELIVERY_SENDERS)."""
    stats = dict(dispatch.assemble_due())
    waiting = dispatch.waiting_count()
    for _ in range(min(waiting, _senders())):
        send_pending.delay()
    return stats | {"waiting": waiting}


@shared_task(name="campaigns.delivery.tasks.send_pending", queue="wecom")
def send_pending() -> dict:
    return dict(dispatch.send_waiting())


@shared_task(name="campaigns.delivery.tasks.poll_results", queue="wecom")
def poll_results() -> dict:
    return dict(results.poll_due())


@shared_task(name="campaigns.delivery.tasks.remind_unconfirmed", queue="wecom")
def remind_unconfirmed() -> dict:
    return dict(results.remind_unconfirmed())


@shared_task(name="campaigns.delivery.tasks.cancel_stale", queue="wecom")
def cancel_stale() -> dict:
    return dict(results.cancel_stale())


@shared_task(name="campaigns.delivery.tasks.remind_operator_tasks", queue="wecom")
def remind_operator_tasks() -> dict:
    return dict(reminders.remind_operator_tasks())
