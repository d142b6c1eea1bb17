"""Excel export of a report through the exports framework (`workbench/exports/`): an `ExportJob` of kind
"report", requested and audited here, built by the exports worker under the requester's data scope (the node is
resolved again at run time), listed with its progress on 我的导出, downloaded and audited there.

One sheet per section of the dashboard plus the operators' totals and the raw daily facts.
"""

import contextlib
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.exports.models import ExportJob
from workbench.exports.services import export_path
from workbench.org.scope import may_export
from workbench.reports import selectors
from workbench.reports.funnels import playbook_funnels
from workbench.reports.periods import Period
from workbench.reports.workbook import Column, ReportWorkbook

logger = logging.getLogger(__name__)

REPORT_KIND = ExportJob.Kind.REPORT
SUMMARY_SECTIONS = 6  # every sheet but the daily facts counts as one step of the progress bar
PROGRESS_EVERY = 5000  # daily rows between two progress updates

# (figure key, header, kind, width): the columns every figures sheet shares.
FIGURES = [
    ("customers_owned", gettext_lazy("Customers"), "int", 10),
    ("effective_customers", gettext_lazy("Effective customers"), "int", 12),
    ("effective_ratio", gettext_lazy("Effective-customer ratio"), "percent", 12),
    ("customers_new", gettext_lazy("New customers"), "int", 10),
    ("lost_by_customer", gettext_lazy("Deleted the operator"), "int", 12),
    ("lost_by_operator", gettext_lazy("Deleted by the operator"), "int", 12),
    ("tasks_due", gettext_lazy("Tasks due"), "int", 10),
    ("tasks_on_time", gettext_lazy("Tasks on time"), "int", 10),
    ("on_time_rate", gettext_lazy("Tasks on-time rate"), "percent", 12),
    ("mass_tasks_received", gettext_lazy("Mass sends received"), "int", 12),
    ("mass_tasks_confirmed", gettext_lazy("Mass sends confirmed"), "int", 12),
    ("confirm_rate", gettext_lazy("Mass-send confirmation rate"), "percent", 14),
    ("avg_confirm_minutes", gettext_lazy("Average confirmation delay (minutes)"), "decimal", 14),
    ("deliveries", gettext_lazy("Messages delivered"), "int", 10),
    ("clicks", gettext_lazy("Clicks"), "int", 10),
    ("conversions", gettext_lazy("Conversions"), "int", 10),
    ("conversion_amount", gettext_lazy("AUM converted (yuan)"), "money", 16),
    ("conversations_started", gettext_lazy("Conversations started by customers"), "int", 14),
    ("replied_within_5min", gettext_lazy("Answered within 5 minutes"), "int", 12),
    ("reply_5min_rate", gettext_lazy("5-minute reply rate"), "percent", 12),
]
RAW = ["customers_owned", "effective_customers", *selectors.SUMMED]
RAW_HEADERS = {
    "tasks_done": gettext_lazy("Tasks done"),
    "tasks_overdue": gettext_lazy("Tasks overdue"),
    "confirm_delay_seconds": gettext_lazy("Confirmation delay (seconds, summed)"),
    "chat_messages": gettext_lazy("1:1 messages from the sidebar"),
}


def _figure_columns() -> list[Column]:
    return [Column(str(header), kind, width) for _key, header, kind, width in FIGURES]


def _figure_values(figures: dict) -> list:
    return [figures.get(key) for key, *_rest in FIGURES]


def report_export_request(*, user, node_key: str, period: Period) -> ExportJob:
    if not may_export(user):
        raise PermissionDenied(_("Your role may not export data."))
    node = selectors.node_from_key(user, node_key)  # 404 outside the requester's scope
    params = {
        "node": selectors.node_key(node),
        "name": node.name,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "language": get_language() or settings.LANGUAGE_CODE,
    }
    with transaction.atomic():
        job = ExportJob.objects.create(requested_by=user, kind=REPORT_KIND, format=ExportJob.Format.XLSX, params=params)
        audit_record(
            actor=user, action=AuditAction.EXPORT_REQUESTED, obj=job, detail={"kind": REPORT_KIND, "filters": params}
        )
        from workbench.exports.tasks import run_export

        transaction.on_commit(lambda: run_export.delay(job.pk))
    return job


def report_export_run(job: ExportJob) -> ExportJob:
    """Build the workbook (called by `exports.services.export_run` for jobs of kind "report")."""
    try:
        node = selectors.node_from_key(job.requested_by, job.params.get("node", "top"))
    except Http404:  # the requester's scope changed since the request: nothing is written
        job.status, job.error, job.finished_at = ExportJob.Status.FAILED, "out of the data scope", timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        return job
    period = Period("custom", *(timezone.datetime.fromisoformat(job.params[k]).date() for k in ("start", "end")))
    job.status = ExportJob.Status.RUNNING
    # Progress counts the daily-facts rows (nearly all of the work) plus one per summary sheet.
    job.total_rows = selectors.operator_days_count(node, period) + SUMMARY_SECTIONS
    job.rows_written = 0
    job.file_name = f"report-{job.pk}-{timezone.now():%Y%m%d%H%M%S}.xlsx"
    job.save(update_fields=["status", "total_rows", "rows_written", "file_name"])
    path = export_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    book = ReportWorkbook(path)
    try:
        with translation.override(job.params.get("language") or settings.LANGUAGE_CODE):
            for section in (_summary, _trend, _ranking, _churn, _funnels, _operators):
                section(book, node, period)
                _advance(job, 1)
            _operator_days(book, node, period, progress=lambda rows: _advance(job, rows))
        book.close()
    except Exception as error:
        logger.exception("report export %s failed", job.pk)
        with contextlib.suppress(Exception):
            book.close()
        path.unlink(missing_ok=True)
        job.status, job.error, job.finished_at = ExportJob.Status.FAILED, str(error)[:2000], timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        raise
    job.status, job.finished_at = ExportJob.Status.DONE, timezone.now()
    job.save(update_fields=["status", "rows_written", "finished_at"])
    return job


def _advance(job: ExportJob, steps: int) -> None:
    job.rows_written += steps
    ExportJob.objects.filter(pk=job.pk).update(rows_written=job.rows_written)


# --- sections -----------------------------------------------------------------------------------------------------


def _summary(book: ReportWorkbook, node, period: Period) -> None:
    figures = selectors.kpis(node, period)
    book.sheet(_("Summary"), [Column(_("Figure"), "text", 36), Column(_("Value"), "text", 24)])
    book.row([_("Performance report"), f"{node.level_label} · {node.name}"])
    book.row([_("Period"), period.label])
    book.row([_("Generated at"), timezone.localtime().strftime("%Y-%m-%d %H:%M")])
    for key, header, kind, _width in FIGURES:
        book.pair(str(header), figures.get(key), kind)  # numbers as numbers, rates as percentages


def _trend(book: ReportWorkbook, node, period: Period) -> None:
    book.sheet(_("Daily trend"), [Column(_("Day"), "date", 12), *_figure_columns()])
    for day in selectors.trend(node, period):
        book.row([day["day"], *_figure_values(day)])


def _ranking(book: ReportWorkbook, node, period: Period) -> None:
    columns = [Column(_("Rank"), "int", 8), Column(_("Kind"), "text", 10), Column(_("Name"), "text", 20)]
    book.sheet(_("Ranking"), [*columns, *_figure_columns()])
    for child in selectors.children(node, period):
        kind = _("Branch") if child["kind"] == "branch" else _("Operator")
        book.row([child["rank"], kind, child["name"], *_figure_values(child)])


def _churn(book: ReportWorkbook, node, period: Period) -> None:
    book.sheet(
        _("Churn"),
        [
            Column(_("Name"), "text", 20),
            Column(_("Deleted the operator"), "int", 14),
            Column(_("Deleted by the operator"), "int", 14),
            Column(_("Lost customers"), "int", 12),
            Column(_("New customers"), "int", 12),
            Column(_("Net change"), "int", 12),
        ],
    )
    figures, ranked = selectors.overview(node, period, metric="lost")
    rows = ranked or [{"name": node.name, **figures}]  # an operator's report: their own line
    for row in rows:
        net = row["customers_new"] - row["lost"]
        book.row(
            [row["name"], row["lost_by_customer"], row["lost_by_operator"], row["lost"], row["customers_new"], net]
        )


def _funnels(book: ReportWorkbook, node, period: Period) -> None:
    book.sheet(
        _("Playbook funnels"),
        [
            Column(_("Playbook"), "text", 28),
            Column(_("Delivered"), "int", 10),
            Column(_("Clicked"), "int", 10),
            Column(_("Click rate"), "percent", 10),
            Column(_("Converted"), "int", 10),
            Column(_("Conversion rate"), "percent", 10),
            Column(_("AUM converted (yuan)"), "money", 16),
            Column(_("Uplift over control"), "percent", 12),
            Column(_("Uplift interval low"), "percent", 12),
            Column(_("Uplift interval high"), "percent", 12),
        ],
    )
    for funnel in playbook_funnels(node, period):
        uplift = funnel["uplift"] or {}
        book.row(
            [
                funnel["label"],
                funnel["delivered"],
                funnel["clicked"],
                funnel["click_rate"],
                funnel["converted"],
                funnel["conversion_rate"],
                funnel["amount"],
                uplift.get("uplift"),
                uplift.get("ci_low"),
                uplift.get("ci_high"),
            ]
        )


def _operators(book: ReportWorkbook, node, period: Period) -> None:
    book.sheet(_("Operators"), [Column(_("Operator"), "text", 14), Column(_("Branch"), "text", 18), *_figure_columns()])
    totals = selectors.operator_totals(node, period)
    labels = selectors.operator_labels(row["operator_id"] for row in totals)
    for row in totals:
        name, branch = labels.get(row["operator_id"], ("", ""))
        book.row([name, branch, *_figure_values(row)])


def _operator_days(book: ReportWorkbook, node, period: Period, *, progress) -> None:
    headers = {key: header for key, header, _kind, _width in FIGURES} | RAW_HEADERS
    raw_columns = [Column(str(headers[key]), "money" if key == "conversion_amount" else "int", 12) for key in RAW]
    book.sheet(
        _("Daily facts"),
        [
            Column(_("Day"), "date", 12),
            Column(_("Operator"), "text", 14),
            Column(_("Branch"), "text", 18),
            *raw_columns,
        ],
    )
    from workbench.org.models import Branch, Operator

    names = dict(Operator.objects.values_list("pk", "name"))
    branches = dict(Branch.objects.values_list("pk", "name"))
    written = 0
    for day, operator_id, branch_id, *values in selectors.operator_days(node, period):
        book.row([day, names.get(operator_id, ""), branches.get(branch_id, ""), *values])
        written += 1
        if written == PROGRESS_EVERY:
            progress(written)
            written = 0
    progress(written)
