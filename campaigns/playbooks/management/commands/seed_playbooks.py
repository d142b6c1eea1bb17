"""`manage.py seed_playbooks`: the demo's starter playbooks, published (called by seed_demo; safe to run again).

The last line on stdout is a JSON summary.
"""

import json

from django.core.management.base import BaseCommand

from campaigns.playbooks.starter import seed_starter_playbooks


class Command(BaseCommand):
    help = "Create and publish the starter playbooks (payroll, retirees, new contacts, silent customers)."

    def handle(self, *args, **options):
        summary = seed_starter_playbooks()
        self.stderr.write(f"playbooks: {len(summary['created'])} starter playbooks published", style_func=str)
        self.stdout.write(json.dumps(summary, ensure_ascii=False))
