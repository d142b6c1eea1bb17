"""The leaderboard as an Excel file, through the exports framework: an `ExportJob` row (listed at 我的导出 with
its progress, downloadable by its requester only, purged after the retention period), audited when requested and
when downloaded, built by a worker under the requester's scope — the same board they see on the page, so metric
points appear only for operators whose breakdown they may see."""

import contextlib
import logging
from datetime import date

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.exports.models import ExportJob
from workbench.exports.services import export_path
from workbench.exports.writers import XlsxWriter
from workbench.incentives.models import Scheme
from workbench.incentives.selectors import board_for
from workbench.org.scope import may_export

logger = logging.getLogger(__name__)

KIND = ExportJob.Kind.LEADERBOARD


def leaderboard_export_request(*, user, scheme: Scheme, period_start: date, level: str, anchor_id=None) -> ExportJob:
    if not may_export(user):
        raise PermissionDenied(_("Your role may not export data."))
    board = board_for(user, scheme=scheme, period_start=period_start, level=level, anchor_id=anchor_id, limit=1)
    params = {
        "scheme": scheme.pk,
        "period": period_start.isoformat(),
        "level": board.level,
        "anchor": board.anchor.pk if board.anchor else "",
    }
    with transaction.atomic():
        job = ExportJob.objects.create(requested_by=user, kind=KIND, format=ExportJob.Format.XLSX, params=params)
        audit_record(
            actor=user,
            action=AuditAction.EXPORT_REQUESTED,
            obj=job,
            detail={"kind": KIND, "format": job.format, "filters": params},
        )
        from workbench.incentives.tasks import build_leaderboard_export

        transaction.on_commit(lambda: build_leaderboard_export.delay(job.pk))
    return job


def leaderboard_export_run(*, job_id: int) -> ExportJob | None:
    """Build the file. Idempotent like the customer export: a finished job is left alone."""
    job = ExportJob.objects.select_related("requested_by").filter(pk=job_id, kind=KIND).first()
    if job is None or job.is_finished:
        return job
    params = job.params
    try:
        # The requester's role and scope again, as they are now: a board out of reach is not written.
        if not may_export(job.requested_by):
            raise Http404("The requester may no longer export.")
        board = board_for(
            job.requested_by,
            scheme=Scheme.objects.get(pk=params["scheme"]),
            period_start=date.fromisoformat(params["period"]),
            level=params["level"],
            anchor_id=params["anchor"],
            limit=None,
        )
    except Http404:
        job.status, job.error, job.finished_at = ExportJob.Status.FAILED, "out of the data scope", timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        return job
    job.status = ExportJob.Status.RUNNING
    job.total_rows = len(board.rows)
    job.file_name = f"{KIND}-{job.pk}-{timezone.now():%Y%m%d%H%M%S}.xlsx"
    job.save(update_fields=["status", "total_rows", "file_name"])
    path = export_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    headers = [_("Rank"), _("Operator"), _("Team"), pgettext("level-2 branch", "Branch"), _("Total points")]
    headers += [str(line["label"]) for line in board.metric_lines]
    writer = XlsxWriter(path, headers, _("Leaderboard"))
    rank_field = {"team": "rank_team", "region": "rank_region", "bank": "rank_bank"}[board.level]
    try:
        for row in board.rows:
            writer.write(
                [
                    getattr(row, rank_field),
                    row.operator.name,
                    row.team.name,
                    row.region.name,
                    row.total,
                    *row.metric_points,
                ]
            )
        writer.close()
    except Exception as error:
        logger.exception("leaderboard export %s failed", job.pk)
        with contextlib.suppress(Exception):
            writer.close()
        path.unlink(missing_ok=True)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    job.status = ExportJob.Status.DONE
    job.rows_written = len(board.rows)
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "rows_written", "finished_at"])
    return job
