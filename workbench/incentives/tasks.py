from celery import shared_task

from workbench.incentives.export import leaderboard_export_run
from workbench.incentives.services import score_run_execute, scores_compute_nightly


@shared_task(name="workbench.incentives.tasks.run_scores", acks_late=True)
def run_scores(run_id: int) -> None:
    score_run_execute(run_id=run_id)


@shared_task(name="workbench.incentives.tasks.compute_nightly", acks_late=True)
def compute_nightly() -> dict:
    return scores_compute_nightly()


@shared_task(name="workbench.incentives.tasks.build_leaderboard_export", acks_late=True)
def build_leaderboard_export(job_id: int) -> None:
    leaderboard_export_run(job_id=job_id)
