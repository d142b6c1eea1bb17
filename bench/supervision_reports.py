"""The reports' half of `python -m bench supervision`: called by bench/supervision.py once the history is built.

    measure(emit, *, days: int) -> None
        emit(metric: str, value: float, unit: str) prints one JSON line (bench.emit with the bench name bound).

Emits:
    branch_dashboard_p95_ms   GET /reports/branch/<id>/ for the second-level branch with the most operators,
                              the last 30 days of facts, through the whole Django stack (target < 300)
    excel_month_bank_s        the whole bank's Excel report for the last 30 days of facts (target < 30)
"""

import time
from datetime import timedelta

from bench import log, p95

SAMPLES = 30
WARMUP = 3


def _user():
    """A whole-bank login for the benchmark (a superuser without an operator profile sees the whole bank)."""
    from django.contrib.auth import get_user_model

    user, _created = get_user_model().objects.get_or_create(
        username="bench_reports", defaults={"is_superuser": True, "is_staff": True}
    )
    return user


def _busiest_branch():
    """The second-level branch (分行) with the most operators: the heaviest branch dashboard."""
    from workbench.org.models import Branch, Operator

    best, best_count = None, -1
    for branch in Branch.objects.filter(level=Branch.Level.BRANCH):
        count = Operator.objects.filter(branch__path__startswith=branch.path).count()
        if count > best_count:
            best, best_count = branch, count
    return best or Branch.objects.order_by("path").first(), best_count


def measure(emit, *, days: int) -> None:
    from django.db import connection
    from django.db.models import Max
    from django.test import Client

    from workbench.exports.models import ExportJob
    from workbench.reports.export import report_export_run
    from workbench.supervision.models import OperatorDay

    last = OperatorDay.objects.aggregate(last=Max("day"))["last"]
    if last is None:
        log("reports: no OperatorDay rows, nothing to measure")
        return
    start = last - timedelta(days=min(days, 30) - 1)
    params = {"period": "custom", "start": start.isoformat(), "end": last.isoformat()}
    user = _user()
    # The history was just bulk-written: set hint bits and statistics now, as autovacuum would have long since
    # done in production, so that the first samples do not measure the write-back of freshly loaded pages.
    if not connection.in_atomic_block:  # VACUUM cannot run inside a transaction
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE supervision_operatorday")

    branch, operators = _busiest_branch()
    client = Client()
    client.force_login(user)
    url = f"/reports/branch/{branch.pk}/"
    log(f"reports: branch dashboard of {branch.name} ({operators} operators), {start} … {last}")
    samples = []
    for attempt in range(WARMUP + SAMPLES):
        began = time.perf_counter()
        response = client.get(url, params)
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
        if attempt >= WARMUP:
            samples.append(elapsed)
    emit("branch_dashboard_p95_ms", p95(samples), "ms")

    job = ExportJob.objects.create(
        requested_by=user,
        kind=ExportJob.Kind.REPORT,
        format=ExportJob.Format.XLSX,
        params={"node": "top", "start": params["start"], "end": params["end"], "language": "zh-hans"},
    )
    began = time.perf_counter()
    report_export_run(job)
    elapsed = time.perf_counter() - began
    log(f"reports: bank workbook {job.file_name} ({OperatorDay.objects.filter(day__gte=start).count()} daily rows)")
    emit("excel_month_bank_s", elapsed, "s")
