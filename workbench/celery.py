"""The Celery application. Queues: `wecom` (WeCom API calls), `compute` (default), `callbacks`."""

import os
from pathlib import Path

from celery import Celery
from celery.schedules import crontab
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
    # Supervision: new purchases attributed, closed days' facts computed and yesterday refreshed; WeCom's
    # behaviour data for the days not fetched yet (each run picks up what the last one could not get).
    "supervision-compute-facts": {
        "task": "workbench.supervision.tasks.compute_facts",
        "schedule": 1800.0,
        "options": {"expires": 1700},
    },
    "supervision-fetch-behavior": {
        "task": "workbench.supervision.tasks.fetch_behavior",
        "schedule": 3600.0,
        "options": {"expires": 3000, "queue": "wecom"},
    },
    # Incentive scores of every active scheme's period holding yesterday, once the night's facts are in.
    "incentives-compute-nightly": {
        "task": "workbench.incentives.tasks.compute_nightly",
        "schedule": crontab(hour=3, minute=15),
        "options": {"expires": 3 * 3600},
    },
    # Managers' weekly (Monday 08:30) and monthly (the 1st, 08:30) WeCom reports; the 2-minute catch-up sends
    # the last closed period to whoever has not had it (a workbench started mid-week, a new manager, a retry).
    "reports-weekly": {
        "task": "workbench.reports.tasks.send_due",
        "schedule": crontab(day_of_week=1, hour=8, minute=30),
        "kwargs": {"kinds": ["weekly"]},
        "options": {"expires": 3600},
    },
    "reports-monthly": {
        "task": "workbench.reports.tasks.send_due",
        "schedule": crontab(day_of_month=1, hour=8, minute=30),
        "kwargs": {"kinds": ["monthly"]},
        "options": {"expires": 3600},
    },
    "reports-catch-up": {
        "task": "workbench.reports.tasks.send_due",
        "schedule": 120.0,
        "options": {"expires": 110},
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
