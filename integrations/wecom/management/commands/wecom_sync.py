"""`manage.py wecom_sync [--full]`: sync the directory, corp tags and contacts from WeCom now, in this process.

Progress goes to stderr; the last line on stdout is a JSON object of counts (departments, members, customers,
follow_relationships, tags, and what was created, updated or ended). Exits 1 when the sync failed.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from integrations.wecom import sync
from integrations.wecom.models import SyncRun
from integrations.wecom.sync import TOTALS


class Command(BaseCommand):
    help = "Sync WeCom departments, members, corp tags and external contacts into the workbench."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="read every contact (default: reconcile changes)")

    def handle(self, *args, full, **options):
        run = SyncRun.objects.create(kind=SyncRun.Kind.FULL if full else SyncRun.Kind.INCREMENTAL)
        self.stderr.write(f"WeCom {run.get_kind_display()} sync #{run.pk} started", style_func=str)
        run = sync.run_sync(run)
        if run.status != SyncRun.Status.SUCCEEDED:
            raise CommandError(f"sync #{run.pk} failed: {run.error}")
        counts = {name: run.counts.get(name, 0) for name in TOTALS}
        changes = {name: value for name, value in sorted(run.counts.items()) if name not in TOTALS}
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stderr.write(f"done in {seconds:.1f}s", style_func=str)
        sys.stdout.flush()
        self.stdout.write(json.dumps(counts | {"changes": changes, "seconds": round(seconds, 1)}))
