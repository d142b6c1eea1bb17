"""Exports: requested and audited, built under the requester's scope, downloaded by the requester only."""

import csv
import gc
import sys
import time
import traceback
import warnings

import pytest
from celery.signals import task_postrun
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from tests.factories import CustomerFactory
from workbench.audit.models import AuditAction, AuditEvent
from workbench.exports.models import ExportJob
from workbench.exports.services import export_path, export_request, export_run, exports_purge_expired
from workbench.org.services import operator_resign

AUM_COLUMN = 7  # zero-based position of "AUM (yuan)" in the customer export


def _run(bank, persona: str, file_format: str, params: dict | None = None, **capture) -> ExportJob:
    job = export_request(user=bank.user(persona), kind="customers", file_format=file_format, params=params or {})
    return export_run(job_id=job.pk)


def _csv_rows(job: ExportJob) -> list[list[str]]:
    with export_path(job).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _numbers_in_file(job: ExportJob) -> set[str]:
    if job.format == ExportJob.Format.CSV:
        return {row[0] for row in _csv_rows(job)[1:]}
    sheet = load_workbook(export_path(job)).active
    return {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}


def test_request_creates_job_audit_row_and_one_task_on_commit(bank, export_root, django_capture_on_commit_callbacks):
    manager = bank.user("manager_a")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = export_request(
            user=manager,
            kind="customers",
            file_format="csv",
            params={"occupation_group": "", "q": "甲", "page": "3", "csrfmiddlewaretoken": "x"},
        )
    assert len(callbacks) == 1  # the task is enqueued only once the job row is committed
    job.refresh_from_db()
    assert job.status == ExportJob.Status.QUEUED
    assert job.requested_by == manager
    assert job.params == {"q": "甲"}  # unknown and empty parameters dropped
    assert (job.total_rows, job.rows_written, job.percent, job.is_finished) == (None, 0, 0, False)
    event = AuditEvent.objects.get(action=AuditAction.EXPORT_REQUESTED)
    assert event.actor == manager
    assert (event.object_type, event.object_id) == ("exports.exportjob", str(job.pk))
    assert event.detail == {"kind": "customers", "format": "csv", "filters": {"q": "甲"}}

    finished = export_run(job_id=job.pk)

    assert finished.status == ExportJob.Status.DONE
    assert finished.total_rows == finished.rows_written == 4
    assert finished.percent == 100 and finished.is_finished
    assert finished.finished_at is not None
    assert export_path(finished).exists()
    assert export_path(finished).parent == export_root


@pytest.mark.parametrize("persona", ["operator_a", "reviewer", "nobody", "resigned"])
def test_roles_without_export_right_are_refused(bank, export_root, persona):
    with pytest.raises(PermissionDenied):
        export_request(user=bank.user(persona), kind="customers", file_format="csv", params={})
    assert not ExportJob.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT_REQUESTED).exists()


def test_unknown_format_is_refused(bank, export_root):
    with pytest.raises(ValueError):
        export_request(user=bank.user("manager_a"), kind="customers", file_format="pdf", params={})
    assert not ExportJob.objects.exists()


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("lead_a", {"CA0000000001", "CA0000000002", "CA0000000003"}),
        ("manager_a", {"CA0000000001", "CA0000000002", "CA0000000003", "CA0000000004"}),
        ("manager_b", {"CB0000000001", "CB0000000002"}),
    ],
)
def test_export_contains_exactly_the_requesters_scope(bank, export_root, file_format, persona, expected):
    job = _run(bank, persona, file_format)
    assert job.status == ExportJob.Status.DONE
    assert _numbers_in_file(job) == expected
    assert job.rows_written == len(expected)


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_export_filters_cannot_reach_out_of_scope(bank, export_root, file_format):
    for params in ({"branch": str(bank.branch_b.pk)}, {"owner": str(bank.operators["operator_b"].pk)}):
        job = _run(bank, "manager_a", file_format, params)
        assert job.status == ExportJob.Status.DONE
        assert _numbers_in_file(job) == set()
    job = _run(bank, "manager_a", file_format, {"q": "CB0000000001"})
    assert _numbers_in_file(job) == set()


def test_export_applies_the_filters(bank, export_root):
    job = _run(bank, "admin", "csv", {"occupation_group": "retiree"})
    assert _numbers_in_file(job) == {"CB0000000001"}
    job = _run(bank, "admin", "csv", {"aum_min": "200000"})
    assert _numbers_in_file(job) == {"CB0000000001"}


def test_csv_layout(bank, export_root):
    job = _run(bank, "manager_b", "csv")
    raw = export_path(job).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens the Chinese text correctly
    rows = _csv_rows(job)
    assert len(rows[0]) == 13
    by_number = {row[0]: row for row in rows[1:]}
    row = by_number["CB0000000001"]
    assert row[1] == "乙客户壹"
    assert row[3] == "139****4321"
    assert row[4] == "孙乙"
    assert row[5] == "乙网点"
    assert row[AUM_COLUMN] == "250000.00"
    assert row[12] == "wmBOWN0001"
    assert "13987654321" not in raw.decode("utf-8-sig")  # never the full mobile
    assert bank.customers["b_own"].id_number not in raw.decode("utf-8-sig")


def test_xlsx_layout(bank, export_root):
    job = _run(bank, "manager_b", "xlsx")
    book = load_workbook(export_path(job))
    sheet = book.active
    assert sheet.freeze_panes == "A2"
    header = next(sheet.iter_rows(min_row=1, max_row=1))
    assert len(header) == 13
    assert all(cell.font.b for cell in header)
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == 2
    for row in rows:
        assert isinstance(row[AUM_COLUMN].value, int | float), row[AUM_COLUMN].value
        assert not row[1].font.b
    by_number = {row[0].value: row for row in rows}
    assert by_number["CB0000000001"][AUM_COLUMN].value == 250000
    assert by_number["CB0000000001"][3].value == "139****4321"
    everything = " ".join(str(cell.value) for row in sheet.iter_rows() for cell in row)
    assert "13987654321" not in everything


def test_export_runs_under_the_requesters_scope_at_run_time(bank, export_root):
    job = export_request(user=bank.user("manager_a"), kind="customers", file_format="csv", params={})
    operator_resign(operator=bank.operators["manager_a"])
    finished = export_run(job_id=job.pk)
    assert finished.status == ExportJob.Status.DONE
    assert finished.rows_written == 0
    assert _csv_rows(finished)[1:] == []


def test_export_run_is_idempotent_and_tolerates_missing_jobs(bank, export_root):
    job = _run(bank, "manager_a", "csv")
    file_name = job.file_name
    again = export_run(job_id=job.pk)
    assert again.file_name == file_name and again.status == ExportJob.Status.DONE
    assert export_run(job_id=2_000_000_000) is None


def test_export_progress_is_written_chunk_by_chunk(bank, export_root, monkeypatch, django_assert_max_num_queries):
    from workbench.exports import services

    CustomerFactory.create_batch(5, owner=bank.operators["operator_a"])
    monkeypatch.setattr(services, "CHUNK", 2)
    job = export_request(user=bank.user("lead_a"), kind="customers", file_format="csv", params={})
    finished = export_run(job_id=job.pk)
    assert finished.total_rows == finished.rows_written == 8
    assert len(_csv_rows(finished)) == 9


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_failed_export_is_marked_and_leaves_nothing_open(bank, export_root, monkeypatch, file_format):
    from workbench.exports import services

    def broken(customer):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_customer_values", broken)
    complaints = []  # a writer left open complains when collected: ResourceWarning or an unraisable error
    monkeypatch.setattr(sys, "unraisablehook", complaints.append)
    job = export_request(user=bank.user("manager_a"), kind="customers", file_format=file_format, params={})
    gc.collect()  # earlier tests' garbage (a sandbox's sockets …) is not this export's to answer for
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(RuntimeError) as excinfo:
            export_run(job_id=job.pk)
        # The log capture keeps the traceback alive; drop the frames' locals so the writer can be collected.
        traceback.clear_frames(excinfo.value.__traceback__)
        del excinfo
        gc.collect()
    assert complaints == []
    leaked = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert [str(w.message) for w in leaked if "socket" not in str(w.message)] == []
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert "disk full" in job.error
    assert job.finished_at is not None
    assert not export_path(job).exists()
    assert not list(export_root.iterdir())


# --- the web endpoints ---------------------------------------------------------------------------------------


def test_export_endpoint_refuses_operators(bank, login, export_root):
    response = login("operator_a").post(reverse("customers:export"), {"format": "csv"})
    assert response.status_code == 403
    assert not ExportJob.objects.exists()


def test_export_endpoint_for_team_lead(bank, login, export_root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = login("lead_a").post(reverse("customers:export"), {"format": "xlsx", "q": "甲客户"})
    assert response.status_code == 302
    assert response["Location"] == reverse("exports:list")
    assert len(callbacks) == 1
    job = ExportJob.objects.get()
    assert (job.requested_by, job.format, job.params) == (bank.user("lead_a"), "xlsx", {"q": "甲客户"})
    finished = export_run(job_id=job.pk)
    assert _numbers_in_file(finished) == {"CA0000000001", "CA0000000002", "CA0000000003"}


def test_export_endpoint_is_post_only(bank, login, export_root):
    assert login("lead_a").get(reverse("customers:export")).status_code == 405


def test_download_by_requester_is_audited(bank, login, export_root):
    job = _run(bank, "manager_a", "csv")
    response = login("manager_a").get(reverse("exports:download", args=[job.pk]))
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert job.file_name in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == export_path(job).read_bytes()
    event = AuditEvent.objects.get(action=AuditAction.EXPORT_DOWNLOADED)
    assert event.actor == bank.user("manager_a")
    assert event.object_id == str(job.pk)
    assert event.detail == {"rows": 4, "file": job.file_name}


@pytest.mark.parametrize("persona", ["manager_b", "lead_a", "operator_a", "admin"])
def test_download_and_progress_of_another_users_export_are_404(bank, login, export_root, persona):
    job = _run(bank, "manager_a", "csv")
    client = login(persona)
    assert client.get(reverse("exports:download", args=[job.pk])).status_code == 404
    assert client.get(reverse("exports:progress", args=[job.pk])).status_code == 404
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT_DOWNLOADED).exists()


def test_download_of_unfinished_or_missing_file_is_404(bank, login, export_root):
    queued = export_request(user=bank.user("manager_a"), kind="customers", file_format="csv", params={})
    client = login("manager_a")
    assert client.get(reverse("exports:download", args=[queued.pk])).status_code == 404
    done = export_run(job_id=queued.pk)
    export_path(done).unlink()
    assert client.get(reverse("exports:download", args=[done.pk])).status_code == 404
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT_DOWNLOADED).exists()


def test_purge_expired_exports(bank, export_root, settings):
    settings.EXPORT_RETENTION_HOURS = 24
    old = _run(bank, "manager_a", "csv")
    fresh = _run(bank, "manager_a", "xlsx")
    ExportJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timezone.timedelta(hours=25))

    assert exports_purge_expired() == 1

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == ExportJob.Status.EXPIRED
    assert not export_path(old).exists()
    assert fresh.status == ExportJob.Status.DONE
    assert export_path(fresh).exists()
    assert exports_purge_expired() == 0


# --- a real Celery worker on the Redis broker ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_export_through_a_real_worker(export_root):
    from celery.contrib.testing.worker import start_worker

    from tests.conftest import build_bank
    from workbench.celery import app

    # The app reads its broker from the test settings (config_from_object), i.e. the test Redis.
    assert app.conf.broker_url == settings.CELERY_BROKER_URL == settings.REDIS_URL
    assert app.conf.broker_url.startswith("redis://")
    bank = build_bank()

    def close_worker_connection(**_kwargs):
        # The worker thread has its own database connection; close it so the test database can be dropped.
        connection.close()

    task_postrun.connect(close_worker_connection, weak=False)
    try:
        with start_worker(app, perform_ping_check=False, queues=["compute"], shutdown_timeout=30):
            job = export_request(user=bank.user("manager_a"), kind="customers", file_format="xlsx", params={})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                job.refresh_from_db()
                if job.is_finished:
                    break
                time.sleep(0.1)
    finally:
        task_postrun.disconnect(close_worker_connection)

    assert job.status == ExportJob.Status.DONE, f"worker did not finish the export: {job.status} {job.error}"
    assert job.rows_written == 4
    assert _numbers_in_file(job) == {"CA0000000001", "CA0000000002", "CA0000000003", "CA0000000004"}
