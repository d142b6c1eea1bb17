"""The Excel report: requested through the exports framework, audited, built under the requester's scope, and
opened here with openpyxl to check its sheets, headers, frozen panes and numeric cells."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from tests.reports.support import DAY1, DAY2, standard_facts
from workbench.audit.models import AuditAction, AuditEvent
from workbench.exports.models import ExportJob
from workbench.exports.services import export_path, export_run
from workbench.reports.export import report_export_request
from workbench.reports.periods import Period

PERIOD = Period("custom", DAY1, DAY2)
SHEET_IDS = ["Summary", "Daily trend", "Ranking", "Churn", "Playbook funnels", "Operators", "Daily facts"]


def zh(msgid: str) -> str:
    """The Chinese the workbook uses (catalogs of other apps may translate a shared msgid their way)."""
    with translation.override("zh-hans"):
        text = translation.gettext(msgid)
    assert text != msgid, msgid
    return text


@pytest.fixture
def facts(bank):
    return standard_facts(bank)


def build(bank, persona: str, node: str = "top") -> ExportJob:
    job = report_export_request(user=bank.user(persona), node_key=node, period=PERIOD)
    return export_run(job_id=job.pk)


def test_the_button_queues_one_job_audits_it_and_lists_it_under_my_exports(
    bank, login, facts, export_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = login("manager_a").post(
            reverse("reports:export"),
            {"node": f"branch:{bank.sub_a.pk}", "period": "custom", "start": DAY1, "end": DAY2},
        )
    assert response.status_code == 302 and response["Location"] == reverse("exports:list")
    job = ExportJob.objects.get()
    assert (job.kind, job.format, job.requested_by) == ("report", "xlsx", bank.user("manager_a"))
    assert job.params["node"] == f"branch:{bank.sub_a.pk}"
    assert len(callbacks) == 1
    event = AuditEvent.objects.get(action=AuditAction.EXPORT_REQUESTED)
    assert event.detail["kind"] == "report"
    listing = login("manager_a").get(reverse("exports:list"))
    assert zh("Performance report") in listing.content.decode()


def test_workbook_layout_and_numbers(bank, facts, export_root):
    job = build(bank, "manager_a")
    assert job.status == ExportJob.Status.DONE and job.rows_written == job.total_rows == 5 + 6  # daily rows + sheets
    book = load_workbook(export_path(job))
    assert book.sheetnames == [zh(title) for title in SHEET_IDS]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        assert sheet["A1"].font.bold, sheet.title
    summary = {row[0]: row[1] for row in book[zh("Summary")].iter_rows(min_row=2, values_only=True)}
    assert summary[zh("Customers")] == 23
    assert summary[zh("AUM converted (yuan)")] == pytest.approx(3600.50)
    assert summary[zh("Effective-customer ratio")] == pytest.approx(13 / 23)
    label = zh("Effective-customer ratio")
    rate_cell = next(row[1] for row in book[zh("Summary")].iter_rows(min_row=2) if row[0].value == label)
    assert rate_cell.number_format == "0.0%"
    trend = list(book[zh("Daily trend")].iter_rows(values_only=True))
    assert trend[0][:3] == (zh("Day"), zh("Customers"), zh("Effective customers"))
    assert [(row[0].date(), row[1]) for row in trend[1:]] == [(DAY1, 17), (DAY2, 23)]
    ranking = list(book[zh("Ranking")].iter_rows(values_only=True))
    assert ranking[1][:4] == (1, zh("Branch"), "甲支行", 23)
    operators = {row[0]: row for row in book[zh("Operators")].iter_rows(min_row=2, values_only=True)}
    assert set(operators) == {"赵甲", "钱甲", "李组长"}
    assert isinstance(operators["赵甲"][2], int) and operators["赵甲"][2] == 12
    daily = list(book[zh("Daily facts")].iter_rows(min_row=2, values_only=True))
    assert len(daily) == 5  # the five rows of branch A in the period
    assert book.worksheets[0].column_dimensions["A"].width == 36


@pytest.mark.parametrize(("persona", "operators"), [("lead_a", {"赵甲", "钱甲", "李组长"}), ("admin", None)])
def test_an_export_holds_only_the_requesters_scope(bank, facts, export_root, persona, operators):
    job = build(bank, persona)
    names = {row[0] for row in load_workbook(export_path(job))[zh("Operators")].iter_rows(min_row=2, values_only=True)}
    if operators is None:
        assert "孙乙" in names
    else:
        assert names == operators


def test_another_branchs_report_cannot_be_exported(bank, facts, export_root):
    for persona in ("lead_a", "manager_a"):
        with pytest.raises(Http404):
            report_export_request(user=bank.user(persona), node_key=f"branch:{bank.branch_b.pk}", period=PERIOD)
        with pytest.raises(Http404):
            report_export_request(
                user=bank.user(persona), node_key=f"operator:{bank.operators['operator_b'].pk}", period=PERIOD
            )
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize("persona", ["operator_a", "reviewer"])
def test_roles_without_export_right_are_refused(bank, login, facts, export_root, persona):
    with pytest.raises(PermissionDenied):
        report_export_request(user=bank.user(persona), node_key="top", period=PERIOD)
    assert login(persona).post(reverse("reports:export"), {"node": "top"}).status_code == 403
    assert not ExportJob.objects.exists()


def test_scope_is_checked_again_when_the_worker_builds_the_file(bank, facts, export_root):
    from workbench.org.models import Operator

    job = report_export_request(user=bank.user("manager_a"), node_key=f"branch:{bank.sub_a.pk}", period=PERIOD)
    Operator.objects.filter(pk=bank.operators["manager_a"].pk).update(branch=bank.branch_b)
    job = export_run(job_id=job.pk)
    assert job.status == ExportJob.Status.FAILED and job.error == "out of the data scope"
    assert not export_path(job).exists()
