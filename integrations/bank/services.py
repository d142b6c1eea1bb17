"""Bank data imports: storing an upload as a job, and running jobs in a worker.

The web request (or the API call) only stores the file and the job row; `imports_run` — the Celery task's
body — processes queued jobs one at a time, oldest first (a holdings file uploaded after a customer file
sees those customers), in chunks of CHUNK rows:

- a chunk's rows are parsed and checked (prepare), then written set-wise (appliers) in ONE transaction
  together with the job's counters, so after any crash the counters say exactly what is in the database and
  a re-run resumes after the last committed chunk;
- a row is applied entirely or not at all: bad cells reject the row before anything is written; a row the
  database refuses makes its chunk roll back to a savepoint and go again row by row;
- re-importing a file changes nothing: only rows whose values differ are written (no `updated_at` churn),
  payroll credits and purchases are unique on the bank's business key.

One runner at a time (a PostgreSQL advisory lock); a run works for at most RUN_SECONDS and then hands over
to a fresh task, so a 20-million-row file never meets the Celery time limits and other work is not starved.
"""

import contextlib
import csv
import hashlib
import io
import itertools
import logging
import multiprocessing
import os
import time
import uuid
from collections import deque
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from integrations.bank.appliers import APPLIERS, Applier, Context, Outcome
from integrations.bank.columns import HeaderProblem, Mapping, map_header
from integrations.bank.models import ImportJob
from integrations.bank.prepare import Prepared, References, RowError, prepare_chunk
from integrations.bank.reader import ENCODINGS, FileProblem, open_source, sniff_format
from integrations.bank.values import code_text
from tagging.models import Customer
from tagging.segments.services import bitmaps_request_refresh
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.org.models import Branch, Operator
from workbench.org.scope import may_import

logger = logging.getLogger(__name__)

CHUNK = 5000  # rows per transaction
RUN_SECONDS = 420  # a run's working time before it hands over (below CELERY_TASK_SOFT_TIME_LIMIT)
STALE_MINUTES = 15  # a running job without progress for this long is picked up again
FAILED_KEEP_DAYS = 7  # a failed job's upload is kept this long, so that it can be resumed
PARALLEL_MIN_BYTES = 8 << 20  # files from this size are prepared by a process pool
LOCK_KEY = 0x62616E6B  # "bank": the advisory lock of the one import runner
DB_ERRORS = (DatabaseError, psycopg.Error)  # COPY goes to psycopg directly, past Django's error wrapping


class ImportRefused(ValueError):
    """The upload cannot become a job; the message is for the person uploading."""


# --- storing an upload ---------------------------------------------------------------------------------------


def import_path(name: str) -> Path:
    return Path(settings.IMPORT_ROOT) / name


def max_upload_bytes() -> int:
    return settings.IMPORT_MAX_UPLOAD_MB << 20


def _store(upload) -> tuple[str, int, str]:
    """Stream the upload under IMPORT_ROOT, hashing on the way: (stored name, size, sha256)."""
    suffix = Path(upload.name or "").suffix.lower()[:8] or ".csv"
    name = f"{timezone.now():%Y%m}/{uuid.uuid4().hex}{suffix}"
    path = import_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, size, limit = hashlib.sha256(), 0, max_upload_bytes()
    try:
        with path.open("wb") as out:
            for piece in upload.chunks(1 << 20):
                size += len(piece)
                if size > limit:
                    raise ImportRefused(
                        _("The file is larger than %(mb)s MB; split it into several files.")
                        % {"mb": settings.IMPORT_MAX_UPLOAD_MB}
                    )
                digest.update(piece)
                out.write(piece)
        if size == 0:
            raise ImportRefused(_("The file is empty."))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return name, size, digest.hexdigest()


def import_create(*, user, kind: str, upload, encoding: str = "auto", via: str = ImportJob.Via.WEB) -> ImportJob:
    """Store the uploaded file and queue its job (processed by a worker once this transaction commits)."""
    if not may_import(user):
        raise PermissionDenied(_("Your role may not import bank data."))
    if kind not in ImportJob.Kind.values:
        raise ImportRefused(_("Unknown kind of import: %(kind)s.") % {"kind": kind})
    encoding = (encoding or "auto").lower()
    if encoding not in ENCODINGS:
        raise ImportRefused(_("Unknown encoding: %(encoding)s.") % {"encoding": encoding})
    stored, size, sha256 = _store(upload)
    try:
        file_format = sniff_format(import_path(stored))
    except FileProblem as problem:
        import_path(stored).unlink(missing_ok=True)
        raise ImportRefused(str(problem)) from None
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            file_name=Path(upload.name or "upload").name[:255],
            stored_name=stored,
            file_size=size,
            sha256=sha256,
            format=file_format,
            encoding=encoding,
            language=translation.get_language() or settings.LANGUAGE_CODE,
            uploaded_by=user,
            via=via,
        )
        audit_record(
            actor=user,
            action=AuditAction.IMPORT_UPLOADED,
            obj=job,
            detail={"kind": kind, "file": job.file_name, "bytes": size, "sha256": sha256, "via": via},
        )
        transaction.on_commit(_enqueue)
    return job


def import_resume(*, job: ImportJob, user) -> ImportJob:
    """Queue a failed job again; it continues after the last chunk it committed."""
    if not may_import(user):
        raise PermissionDenied(_("Your role may not import bank data."))
    if not job.can_resume:
        raise ImportRefused(_("This import cannot continue; upload the file again."))
    with transaction.atomic():
        updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.FAILED).update(
            status=ImportJob.Status.QUEUED, error="", finished_at=None
        )
        if updated:
            audit_record(
                actor=user,
                action=AuditAction.IMPORT_UPLOADED,
                obj=job,
                detail={"kind": job.kind, "file": job.file_name, "resumed_at_row": job.rows_read},
            )
            transaction.on_commit(_enqueue)
    job.refresh_from_db()
    return job


def import_report_downloaded(*, job: ImportJob, user) -> None:
    audit_record(
        actor=user,
        action=AuditAction.IMPORT_REPORT_DOWNLOADED,
        obj=job,
        detail={"rows_rejected": job.rows_rejected, "file": job.file_name},
    )


def _enqueue() -> None:
    from integrations.bank.tasks import run_imports

    run_imports.delay()


def imports_purge_files() -> int:
    """Delete the uploads of jobs that failed more than FAILED_KEEP_DAYS ago (kept until then for 继续)."""
    cutoff = timezone.now() - timedelta(days=FAILED_KEEP_DAYS)
    purged = 0
    for job in ImportJob.objects.filter(status=ImportJob.Status.FAILED, finished_at__lt=cutoff):
        if job.upload_path.exists():
            job.upload_path.unlink()
            purged += 1
    return purged


def imports_wake_stale() -> bool:
    """Beat's safety net: queue a run when jobs wait (a lost message) or stopped moving (a killed worker)."""
    stale = timezone.now() - timedelta(minutes=STALE_MINUTES)
    waiting = ImportJob.objects.filter(status=ImportJob.Status.QUEUED, created_at__lt=stale).exists()
    stuck = ImportJob.objects.filter(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale).exists()
    if waiting or stuck:
        _enqueue()
    return waiting or stuck


# --- running jobs --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _runner_lock() -> Iterator[bool]:
    """True when this process is the one import runner. The lock belongs to the database session, so a
    killed worker's lock goes with its connection."""
    if connection.vendor != "postgresql":
        yield True  # the no-service demo runs one worker
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with contextlib.suppress(*DB_ERRORS), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def _next_job() -> ImportJob | None:
    unfinished = [ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    return ImportJob.objects.filter(status__in=unfinished).order_by("created_at", "pk").first()


def imports_run(*, seconds: float | None = RUN_SECONDS, workers: int | None = None) -> bool:
    """Work through waiting jobs, oldest first, for about `seconds`. True when work is left for a next run."""
    deadline = time.monotonic() + seconds if seconds else None
    with _runner_lock() as acquired:
        if not acquired:
            return False  # another worker is the runner; it hands over when its time is up
        done: set[int] = set()
        while (job := _next_job()) is not None and job.pk not in done:
            if not _run_job(job, deadline=deadline, workers=workers):
                break
            done.add(job.pk)
    # After the lock is released: a job queued while this run held it finds the next run.
    return _next_job() is not None


def import_run(*, job_id: int, workers: int | None = None) -> ImportJob | None:
    """Run one job to its end in this process (the benchmark, tests and the management shell)."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return job
    with _runner_lock() as acquired:
        if not acquired:
            raise RuntimeError("Another process is running imports.")
        _run_job(job, deadline=None, workers=workers)
    job.refresh_from_db()
    return job


def _run_job(job: ImportJob, *, deadline: float | None, workers: int | None) -> bool:
    """Process the job until it is finished (True) or the deadline passes (False)."""
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING,
        started_at=job.started_at or now,
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    job.refresh_from_db()
    try:
        with translation.override(job.language):
            finished = _process(job, deadline=deadline, workers=workers)
    except (FileProblem, HeaderProblem) as problem:
        _fail(job, str(problem))
        return True
    except SoftTimeLimitExceeded:
        raise  # not the job's fault: it stays running and the next run continues it
    except Exception as error:
        logger.exception("import %s failed", job.pk)
        _fail(job, _("The import stopped unexpectedly (%(error)s). Rows up to row %(rows)s were processed.")
              % {"error": str(error)[:500], "rows": job.rows_read})  # fmt: skip
        return True
    if finished:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE, rows_total=F("rows_read"), finished_at=timezone.now()
        )
        # The upload holds mobiles and ID numbers in clear: it goes once it is no longer needed. The history
        # keeps its name, size and SHA-256, the counts and the error report (PII masked).
        job.upload_path.unlink(missing_ok=True)
        # Segment counts read bitmaps of customer attributes: the imported values must reach them.
        bitmaps_request_refresh(attributes=True)
        logger.info("import %s done", job.pk)
    return finished


def _fail(job: ImportJob, message: str) -> None:
    # The counters stay as committed; a resumed run continues from them. The report loses what the failed
    # chunk wrote to it: that chunk was rolled back.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, error=message[:2000], finished_at=timezone.now()
    )
    job.refresh_from_db()
    path = error_report_path(job)
    if path is not None and path.exists() and path.stat().st_size > job.error_report_size:
        with path.open("r+b") as handle:
            handle.truncate(job.error_report_size)


def _references(kind: str) -> References:
    if kind != ImportJob.Kind.CUSTOMERS:
        return References()
    operators = Operator.objects.exclude(wecom_userid=None).values_list(
        "wecom_userid", "pk", "branch_id", "status", "name"
    )
    return References(
        operators={
            userid: (pk, branch_id, status == Operator.Status.ACTIVE, name)
            for userid, pk, branch_id, status, name in operators
        },
        branches=dict(Branch.objects.exclude(code=None).values_list("code", "pk")),
    )


def _process(job: ImportJob, *, deadline: float | None, workers: int | None) -> bool:
    if not job.upload_path.exists():
        raise FileProblem(_("The uploaded file is no longer kept; upload it again (rows already applied stay)."))
    source = open_source(job.upload_path, job.format, job.kind, job.encoding)
    report = None
    try:
        mapping = map_header(job.kind, source.header)
        details = {
            **job.details,
            **source.details,
            "columns": [column.name for column, _index in mapping.positions],
            "ignored_columns": list(mapping.ignored),
        }
        if source.rows_total is not None and job.rows_total is None:
            job.rows_total = source.rows_total
        ImportJob.objects.filter(pk=job.pk).update(details=details, rows_total=job.rows_total)
        job.details = details
        for _skipped in itertools.islice(source.rows, job.rows_read):  # resume after the last committed chunk
            pass
        report = ErrorReport(job)
        applier = APPLIERS[job.kind](Context(job.pk, mapping.present))
        counters = dict(details.get("counts", {}))
        timing = dict(details.get("seconds", {}))  # where the time goes: waiting for rows, writing them
        batches = _prepared_batches(job, mapping, source, _references(job.kind), workers)
        waited = time.monotonic()
        for read, prepared, position in batches:
            writing = time.monotonic()
            timing["preparing"] = round(timing.get("preparing", 0) + writing - waited, 3)
            with transaction.atomic():
                _chunk_settings()
                outcome = apply_chunk(applier, prepared.rows, prepared.pending)
                errors = sorted([*prepared.errors, *outcome.rejected], key=lambda e: e.row)
                report.write(errors)
                refused = len({error.row for error in outcome.rejected})
                for name, value in outcome.counters.items():
                    counters[name] = counters.get(name, 0) + value
                timing["writing"] = round(timing.get("writing", 0) + time.monotonic() - writing, 3)
                ImportJob.objects.filter(pk=job.pk).update(
                    rows_read=F("rows_read") + read,
                    rows_applied=F("rows_applied") + outcome.applied,
                    rows_unchanged=F("rows_unchanged") + len(prepared.rows) - outcome.applied - refused,
                    rows_rejected=F("rows_rejected") + prepared.rejected + refused,
                    bytes_read=position,
                    heartbeat_at=timezone.now(),
                    error_report=report.name if report.used else "",
                    error_report_size=report.size,
                    details={**details, "counts": counters, "seconds": timing},
                )
            job.rows_read += read
            waited = time.monotonic()
            if deadline is not None and time.monotonic() > deadline:
                batches.close()
                return False
        return True
    finally:
        source.close()
        if report is not None:
            report.close()


def _chunk_settings() -> None:
    """For the chunk's transaction: foreign keys are checked by each statement, not at commit, so that a row
    pointing at something gone (an operator deleted meanwhile) fails its wave and is rejected alone, instead
    of failing the commit of the whole chunk. And the commit need not wait for its WAL to reach the disk:
    should the database crash just after, the chunk is lost together with the counters committed with it,
    and the resumed job writes it again."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL synchronous_commit = off")


def apply_chunk(applier: Applier, rows: list[tuple], pending: dict | None = None) -> Outcome:
    """Write a chunk. Rows sharing a business key go in successive waves (file order, like separate chunks);
    a wave the database refuses is rolled back and written again row by row."""
    total = Outcome()
    pending = pending or {}
    for wave in _waves(rows, applier.key):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                outcome = applier.apply(cursor, wave, pending)
        except DB_ERRORS:
            outcome = _row_by_row(applier, wave, pending)
        total.add(outcome)
    return total


def _waves(rows: list[tuple], key) -> list[list[tuple]]:
    waves: list[list[tuple]] = [[]]
    seen: dict = {}
    for row in rows:
        k = key(row)
        if k is None:
            waves[0].append(row)
            continue
        wave = seen.get(k, -1) + 1
        seen[k] = wave
        if wave == len(waves):
            waves.append([])
        waves[wave].append(row)
    return [wave for wave in waves if wave]


def _row_by_row(applier: Applier, rows: list[tuple], pending: dict) -> Outcome:
    total = Outcome()
    for row in rows:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                outcome = applier.apply(cursor, [row], pending)
        except DB_ERRORS as error:
            total.rejected.append(
                RowError(row[0], _("(whole row)"), _refusal(error), str(row[applier.customer_no_at]), "")
            )
            continue
        total.add(outcome)
    return total


def _refusal(error: Exception) -> str:
    cause = error.__cause__ if isinstance(error, DatabaseError) and error.__cause__ else error
    diag = getattr(cause, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    detail = constraint or (getattr(diag, "message_primary", None) or str(cause)).splitlines()[0]
    return _("the database refused the row (%(detail)s)") % {"detail": detail[:200]}


# --- preparing chunks, in this process or a pool --------------------------------------------------------------


def _batches(source) -> Iterator[tuple[list, int]]:
    while batch := list(itertools.islice(source.rows, CHUNK)):
        yield batch, source.position()


def _known(kind: str, mapping: Mapping, batch: list) -> dict:
    """The look-up hashes the batch's customers have now, so that unchanged PII is not encrypted again."""
    present = mapping.present
    if kind != ImportJob.Kind.CUSTOMERS or not ({"mobile", "id_number"} & present):
        return {}
    at = next(index for column, index in mapping.positions if column.name == "customer_no")
    numbers = list({code_text(cells[at]) for _number, cells in batch if at < len(cells)})
    if connection.vendor == "postgresql":  # one array parameter instead of thousands
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT customer_no, mobile_hash, id_number_hash FROM tagging_customer WHERE customer_no = ANY(%s)",
                [numbers],
            )
            rows = cursor.fetchall()
    else:
        rows = Customer.objects.filter(customer_no__in=numbers).values_list(
            "customer_no", "mobile_hash", "id_number_hash"
        )
    return {number: (mobile_hash, id_hash) for number, mobile_hash, id_hash in rows}


_pool_job: tuple | None = None  # (kind, mapping, references, language) in a pool process


def _pool_init(kind: str, mapping: Mapping, refs: References, language: str) -> None:
    global _pool_job
    _pool_job = (kind, mapping, refs)
    translation.activate(language)


def _pool_prepare(records: list, known: dict) -> Prepared:
    kind, mapping, refs = _pool_job
    return prepare_chunk(kind, mapping, records, refs, known)


def _workers(job: ImportJob, requested: int | None) -> int:
    if requested is not None:
        return requested
    if job.file_size < PARALLEL_MIN_BYTES or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(settings.IMPORT_WORKERS, os.cpu_count() or 1))


def _pool(workers: int, initargs: tuple):
    """A pool of forked processes. Celery's prefork workers are daemonic processes, which multiprocessing
    forbids to have children (they could be left behind). These cannot: the pool is terminated when the run
    ends, and should the worker be killed, the pool processes read end-of-file on their task pipe and exit."""
    current = multiprocessing.current_process()
    daemonic = current.daemon
    try:
        if daemonic:
            current.daemon = False
        return multiprocessing.get_context("fork").Pool(workers, initializer=_pool_init, initargs=initargs)
    finally:
        if daemonic:
            current.daemon = True


def _prepared_batches(job, mapping, source, refs, workers) -> Iterator[tuple[int, Prepared, int]]:
    """(rows read, prepared chunk, bytes consumed) in file order. With workers > 1, forked processes parse,
    check and encrypt while this process writes; at most 2 chunks per worker are in flight, so memory stays
    flat whatever the file size."""
    workers = _workers(job, workers)
    if workers > 1:
        try:
            pool = _pool(workers, initargs=(job.kind, mapping, refs, job.language))
        except (AssertionError, OSError) as error:
            logger.warning("import %s: no process pool (%s), preparing in-process", job.pk, error)
            workers = 1
    if workers <= 1:
        for batch, position in _batches(source):
            yield len(batch), prepare_chunk(job.kind, mapping, batch, refs, _known(job.kind, mapping, batch)), position
        return
    try:
        pending: deque = deque()
        for batch, position in _batches(source):
            known = _known(job.kind, mapping, batch)
            pending.append((len(batch), pool.apply_async(_pool_prepare, (batch, known)), position))
            if len(pending) >= 2 * workers:
                read, result, at = pending.popleft()
                yield read, result.get(), at
        while pending:
            read, result, at = pending.popleft()
            yield read, result.get(), at
    finally:
        pool.terminate()
        pool.join()


# --- the error report ----------------------------------------------------------------------------------------


class ErrorReport:
    """The rejected rows as CSV (UTF-8 with BOM, so Excel shows the Chinese): row, column, reason, customer
    number, value. Only the committed prefix counts: a re-run cuts off what a crashed run wrote after it."""

    def __init__(self, job: ImportJob):
        self.name = job.error_report or f"{Path(job.stored_name).with_suffix('')}-errors.csv"
        self.path = import_path(self.name)
        self.used = bool(job.error_report)
        self.handle = None
        if self.used:
            self.handle = self.path.open("r+b" if self.path.exists() else "w+b")
            self.handle.truncate(min(job.error_report_size, self.handle.seek(0, io.SEEK_END)))
            self.handle.seek(0, io.SEEK_END)

    @property
    def size(self) -> int:
        return self.handle.tell() if self.handle else 0

    def write(self, errors: list[RowError]) -> None:
        if not errors:
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if self.handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = self.path.open("w+b")
            self.used = True
        if self.handle.tell() == 0:
            buffer.write("\ufeff")
            writer.writerow([_("Row"), _("Column"), _("Reason"), _("Customer number"), _("Value")])
        writer.writerows((e.row, e.field, e.reason, e.customer_no, e.value) for e in errors)
        self.handle.write(buffer.getvalue().encode("utf-8"))
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        if self.handle:
            self.handle.close()


def error_report_path(job: ImportJob) -> Path | None:
    return import_path(job.error_report) if job.error_report else None


def error_report_preview(job: ImportJob, limit: int = 5) -> list[str]:
    """The first rejected rows as one line each: "第 12 行 · 手机号 · 不是 11 位手机号"."""
    path = error_report_path(job)
    if path is None or not path.exists():
        return []
    lines = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        next(rows, None)
        for row in itertools.islice(rows, limit):
            if len(row) >= 3:
                lines.append(
                    _("Row %(row)s · %(column)s · %(reason)s") % {"row": row[0], "column": row[1], "reason": row[2]}
                )
    return lines
