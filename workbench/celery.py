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
    "imports-housekeeping": {
        "task": "integrations.bank.tasks.imports_housekeeping",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    "channels-push-due": {
        "task": "campaigns.channels.tasks.push_due",
        "schedule": 120.0,
        "options": {"expires": 110},
    },
    "tags-push-to-wecom": {
        "task": "integrations.wecom.tag_push",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "tags-sync-library-to-wecom": {
        "task": "integrations.wecom.tag_sync_library",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    # The delivery engine: every tick re-derives its work from rows, so a lost message costs one tick.
    "delivery-dispatch-due": {
        "task": "campaigns.delivery.tasks.dispatch_due",
        "schedule": 15.0,
        "options": {"expires": 14},
    },
    "delivery-poll-results": {
        "task": "campaigns.delivery.tasks.poll_results",
        "schedule": 30.0,
        "options": {"expires": 28, "queue": "wecom"},
    },
    "delivery-remind-unconfirmed": {
        "task": "campaigns.delivery.tasks.remind_unconfirmed",
        "schedule": 300.0,
        "options": {"expires": 240, "queue": "wecom"},
    },
    "delivery-cancel-stale": {
        "task": "campaigns.delivery.tasks.cancel_stale",
        "schedule": 120.0,
        "options": {"expires": 110, "queue": "wecom"},
    },
    "delivery-remind-operator-tasks": {
        "task": "campaigns.delivery.tasks.remind_operator_tasks",
        "schedule": 300.0,
        "options": {"expires": 240, "queue": "wecom"},
    },
    # Rule tags due per their frequency, lost runs, and stale bitmaps (tags changed since their build; the
    # attribute buckets every 10 minutes): tagging.segments.
    "segments-dispatch": {
        "task": "tagging.segments.tasks.dispatch",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Playbooks: due steps (claimed with SKIP LOCKED, so overlapping ticks share the work) and triggers (new tag
    # changes, payroll credits, dates, segment entries, broadcasts whose time has come).
    "playbooks-tick": {
        "task": "campaigns.playbooks.tasks.tick",
        "schedule": 30.0,
        "options": {"expires": 28},
    },
    "playbooks-scan-triggers": {
        "task": "campaigns.playbooks.tasks.scan_triggers",
        "schedule": 60.0,
        "options": {"expires": 55},
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
