"""`manage.py seed_tags [--customers]`: the starter tag library for banks (idempotent).

`--customers` also gives the demo bank's customers their imported tags (product holdings, risk assessment) and a
few manual ones, set-based; `seed_demo` runs it. The last line on stdout is a JSON summary.
"""

import json

from django.core.management.base import BaseCommand

from tagging.tags.starter import seed_demo_customer_tags, seed_starter_library


class Command(BaseCommand):
    help = "Create the starter tag library (资产等级, 代发客群, 生命周期, 有效客户, 产品持有, 风险偏好, 客户意向)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers", action="store_true", help="also tag the demo customers from their holdings and risk level"
        )

    def handle(self, *args, customers=False, **options):
        summary = seed_starter_library()
        if customers:
            summary["customer_tags"] = seed_demo_customer_tags()
        self.stdout.write(json.dumps(summary, ensure_ascii=False))
