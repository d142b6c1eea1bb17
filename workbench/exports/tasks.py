from celery import shared_task

from workbench.exports.services import export_run, exports_purge_expired


@shared_task(name="workbench.exports.tasks.run_export", acks_late=True)
def run_export(job_id: int) -> None:
    export_run(job_id=job_id)


@shared_task(name="workbench.exports.tasks.purge_expired_exports")
def purge_expired_exports() -> int:
    return exports_purge_expired()
