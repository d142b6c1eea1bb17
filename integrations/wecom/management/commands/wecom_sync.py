"""`manage.py wecom_sync [--full] [--accept-tag-deletions]`: sync the directory, corp tags and contacts from WeCom
now, in this process. `--accept-tag-deletions` first applies a deletion of most corp tags that a sync held back.

Progress goes to stderr; the last line on stdout is a JSON object of counts (departments, members, customers,
follow_relationships, tags, and what was created, updated or ended). Exits 1 when the sync failed.
"""

import json
import sys
from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from integrations.wecom import sync
from integrations.wecom.client import get_client
from integrations.wecom.models import SyncRun
from integrations.wecom.sync import TOTALS
from tagging.tags.wecom import apply_corp_tags


class Command(BaseCommand):
    help = "Sync WeCom departments, members, corp tags and external contacts into the workbench."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="read every contact (default: reconcile changes)")
        parser.add_argument(
            "--accept-tag-deletions",
            action="store_true",
            help="apply a deletion of most corp tags that a sync held back (see docs/wecom.md)",
        )

    def handle(self, *args, full, accept_tag_deletions, **options):
        if accept_tag_deletions:
            stats = Counter()
            sync.sync_corp_tags(get_client(), stats, accept_mass_deletion=True)
            stats.update(apply_corp_tags())
            self.stderr.write(f"corp tags: {dict(stats)}", style_func=str)
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
