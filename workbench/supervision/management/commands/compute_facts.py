"""`manage.py compute_facts --from 2026-10-01 --to 2026-10-31 [--attribute]`: (re)compute a range of daily facts.

Idempotent: every day's rows are rewritten in place. `--attribute` first re-attributes the purchases of the range
(after a change of the window, say). Prints JSON totals of the range on stdout.
"""

import json
import time
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum
from django.utils import timezone

from workbench.supervision import attribution, services
from workbench.supervision.models import OperatorDay
from workbench.supervision.selectors import SUMMED


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Compute the daily operator facts for a range of days (China time), both ends included."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", help="last day, YYYY-MM-DD (default: the first day)")
        parser.add_argument("--attribute", action="store_true", help="re-attribute the range's purchases first")

    def handle(self, *args, start, end, attribute, **options):
        first = _day(start)
        last = _day(end) if end else first
        if last < first:
            raise CommandError("--to is before --from.")
        if last >= timezone.localdate():
            self.stderr.write("note: today is not closed yet; its figures will change.")
        started = time.monotonic()
        attributed = attribution.attribute_days(first, last) if attribute else None
        rows, day = 0, first
        while day <= last:  # day by day, with progress on stderr (stdout stays the JSON summary)
            rows += services.compute_day(day)
            self.stderr.write(f"{day}: {rows:,} rows so far ({time.monotonic() - started:.1f}s)", style_func=str)
            day += timedelta(days=1)
        totals = OperatorDay.objects.filter(day__gte=first, day__lte=last).aggregate(
            **{name: Sum(name) for name in SUMMED}
        )
        summary = {"from": first.isoformat(), "to": last.isoformat(), "rows": rows}
        if attributed is not None:
            summary["purchases_attributed"] = attributed
        for name, value in totals.items():
            summary[name] = float(value or 0) if name == "conversion_amount" else value or 0
        summary["seconds"] = round(time.monotonic() - started, 2)
        self.stdout.write(json.dumps(summary, default=str))
