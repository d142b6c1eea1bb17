"""`manage.py compute_scores [--scheme NAME] [--period YYYY-MM-DD]`: score a period now (every active scheme by
default, the period holding yesterday by default). Idempotent: a period's scores are replaced."""

import json
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from workbench.incentives.models import Scheme
from workbench.incentives.services import scores_compute


class Command(BaseCommand):
    help = "Compute incentive scores for a period (any day inside it) with each scheme's current version."

    def add_arguments(self, parser):
        parser.add_argument("--scheme", help="scheme name (default: every active scheme)")
        parser.add_argument("--period", type=date.fromisoformat, help="any day of the period (default: yesterday)")

    def handle(self, *args, scheme, period, **options):
        schemes = Scheme.objects.filter(name=scheme) if scheme else Scheme.objects.filter(is_active=True)
        if scheme and not schemes.exists():
            raise CommandError(f"No scheme called {scheme!r}.")
        day = period or timezone.localdate() - timedelta(days=1)
        scored = {item.name: scores_compute(scheme=item, period_start=day) for item in schemes}
        self.stdout.write(json.dumps({"period_day": day.isoformat(), "scored": scored}, ensure_ascii=False))
