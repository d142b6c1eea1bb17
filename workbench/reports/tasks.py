"""Beat's entry to the scheduled reports: thin, idempotent (rows are planned before any call), on the WeCom queue."""

from celery import shared_task

from workbench.reports.sending import reports_send_due


@shared_task(name="workbench.reports.tasks.send_due", queue="wecom")
def send_due(kinds: list[str] | None = None) -> dict:
    return dict(reports_send_due(kinds=kinds))
