"""Exports: requested by a user, built by a worker under that user's data scope, audited twice."""

import contextlib
import logging
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from tagging.selectors import filtered_customers
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.exports.models import ExportJob
from workbench.exports.writers import CsvWriter, XlsxWriter
from workbench.org.scope import may_export

logger = logging.getLogger(__name__)

CHUNK = 2000
ALLOWED_PARAMS = {"q", "branch", "owner", "occupation_group", "aum_min", "aum_max", "external_userid", "segment"}


def export_request(*, user, kind: str, file_format: str, params: dict) -> ExportJob:
    if not may_export(user):
        raise PermissionDenied(_("Your role may not export data."))
    if file_format not in ExportJob.Format.values:
        raise ValueError(f"Unknown export format {file_format!r}.")
    clean_params = {
        key: str(value) for key, value in params.items() if key in ALLOWED_PARAMS and value not in ("", None)
    }
    with transaction.atomic():
        job = ExportJob.objects.create(requested_by=user, kind=kind, format=file_format, params=clean_params)
        audit_record(
            actor=user,
            action=AuditAction.EXPORT_REQUESTED,
            obj=job,
            detail={"kind": kind, "format": file_format, "filters": clean_params},
        )
        from workbench.exports.tasks import run_export

        transaction.on_commit(lambda: run_export.delay(job.pk))
    return job


def _customer_rows(job: ExportJob):
    if job.kind == ExportJob.Kind.SEGMENT:
        # A saved segment's members, computed in the requester's scope (tagging.segments).
        from tagging.segments.selectors import segment_export_customers

        customers = segment_export_customers(job.requested_by, job.params)
    else:
        customers, _filter = filtered_customers(job.requested_by, job.params)
    headers = [
        _("Customer number"),
        _("Name"),
        _("Gender"),
        _("Mobile (masked)"),
        _("Owner operator"),
        pgettext("organisation unit", "Branch"),
        _("Occupation group"),
        _("AUM (yuan)"),
        _("Payroll employer"),
        _("Pay day"),
        _("Risk level"),
        _("Last transaction date"),
        _("WeCom external_userid"),
    ]
    return headers, customers


def _customer_values(customer) -> list:
    return [
        customer.customer_no or "",
        customer.name,
        customer.get_gender_display(),
        customer.mobile_masked,
        customer.owner.name if customer.owner else "",
        customer.branch.name if customer.branch else "",
        customer.get_occupation_group_display(),
        customer.aum,
        customer.payroll_employer,
        customer.payday,
        customer.get_risk_level_display() if customer.risk_level else "",
        customer.last_transaction_date.isoformat() if customer.last_transaction_date else "",
        customer.external_userid or "",
    ]


def export_path(job: ExportJob) -> Path:
    return Path(settings.EXPORT_ROOT) / job.file_name


def export_run(*, job_id: int) -> ExportJob | None:
    """Build the file. Idempotent: a job already finished is left alone; a re-run rewrites the file."""
    job = ExportJob.objects.select_related("requested_by").filter(pk=job_id).first()
    if job is None or job.is_finished:
        return job
    if job.kind == ExportJob.Kind.REPORT:  # a performance report's workbook has sheets of its own
        from workbench.reports.export import report_export_run

        return report_export_run(job)
    headers, customers = _customer_rows(job)
    # Deferred: PII ciphertext is never decrypted for an export (only masked columns are written).
    customers = customers.defer("mobile", "id_number")
    job.status = ExportJob.Status.RUNNING
    job.total_rows = customers.count()
    job.rows_written = 0
    job.file_name = f"{job.kind}-{job.pk}-{timezone.now():%Y%m%d%H%M%S}.{job.format}"
    job.save(update_fields=["status", "total_rows", "rows_written", "file_name"])
    path = export_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = (
        CsvWriter(path, headers) if job.format == ExportJob.Format.CSV else XlsxWriter(path, headers, _("Customers"))
    )
    try:
        last_id = None
        while True:
            chunk = customers.order_by("-pk")
            if last_id is not None:
                chunk = chunk.filter(pk__lt=last_id)
            rows = list(chunk[:CHUNK])
            if not rows:
                break
            for customer in rows:
                writer.write(_customer_values(customer))
            last_id = rows[-1].pk
            job.rows_written += len(rows)
            ExportJob.objects.filter(pk=job.pk).update(rows_written=job.rows_written)
        writer.close()
    except Exception as error:
        logger.exception("export %s failed", job.pk)
        # Release the file handle (and openpyxl's temporary sheet file) before removing the partial file.
        with contextlib.suppress(Exception):
            writer.close()
        path.unlink(missing_ok=True)
        job.status = ExportJob.Status.FAILED
        job.error = str(error)[:2000]
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        raise
    job.status = ExportJob.Status.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "rows_written", "finished_at"])
    return job


def export_mark_downloaded(*, job: ExportJob, user) -> None:
    audit_record(
        actor=user,
        action=AuditAction.EXPORT_DOWNLOADED,
        obj=job,
        detail={"rows": job.rows_written, "file": job.file_name},
    )


def exports_purge_expired() -> int:
    cutoff = timezone.now() - timezone.timedelta(hours=settings.EXPORT_RETENTION_HOURS)
    purged = 0
    for job in ExportJob.objects.filter(status=ExportJob.Status.DONE, finished_at__lt=cutoff):
        export_path(job).unlink(missing_ok=True)
        job.status = ExportJob.Status.EXPIRED
        job.save(update_fields=["status"])
        purged += 1
    return purged
