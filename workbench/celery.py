"""The Celery application. Queues: `wecom` (WeCom API calls), `compute` (default), `callbacks`."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workbench.settings")

app = Celery("workbench")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "exports-purge-expired": {
        "task": "workbench.exports.tasks.purge_expired_exports",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    "wecom-incremental-sync": {
        "task": "integrations.wecom.tasks.incremental_sync",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    "wecom-callbacks-reprocess-stuck": {
        "task": "integrations.wecom.callbacks.reprocess_stuck",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    "wecom-poll-transfers": {
        "task": "integrations.wecom.tasks.poll_transfers",
        "schedule": 600.0,
        "options": {"expires": 540},
    },
    "sessions-clear-expired": {
        "task": "workbench.web.tasks.clear_expired_sessions",
        "schedule": 6 * 3600.0,
        "options": {"expires": 3000},
    },
}


def ensure_broker_folders() -> None:
    """The file-based broker needs its folders before the first message is written."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@worker_init.connect
def _prepare_worker(**_kwargs):
    ensure_broker_folders()
