"""`python manage.py send_reports [--kind weekly|monthly] [--manager USERID]`: send managers' reports now.

Without --manager: plan and send what is due (as beat does). With --manager (a WeCom userid): that manager's
report for the last closed week or month, unless it was already sent. Prints the counts as JSON.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from workbench.org.models import Operator
from workbench.reports.models import ReportDispatch
from workbench.reports.sending import report_send_now, reports_send_due


class Command(BaseCommand):
    help = "Send the weekly or monthly reports to managers as WeCom app messages (never twice)."

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=ReportDispatch.Kind.values, help="only this kind (default: both)")
        parser.add_argument("--manager", help="the WeCom userid of one manager: send theirs now")

    def handle(self, *args, kind=None, manager=None, **options):
        if manager:
            operator = Operator.objects.filter(wecom_userid=manager).first()
            if operator is None:
                raise CommandError(f"No operator with WeCom userid {manager!r}.")
            try:
                dispatch = report_send_now(manager=operator, kind=kind or ReportDispatch.Kind.WEEKLY)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            result = {"status": dispatch.status, "period_start": dispatch.period_start.isoformat()}
            result |= {"error": dispatch.error} if dispatch.error else {}
        else:
            result = dict(reports_send_due(kinds=[kind] if kind else None))
        self.stdout.write(json.dumps(result, ensure_ascii=False))
