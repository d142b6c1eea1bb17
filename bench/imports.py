"""The import benchmark: a bank's customer master-data file of N rows through the import service.

Metrics (targets from issue 4):

- `import_1m_rows_s`: wall time from handing the file to `import_create` (what the upload form and the API
  call) until `import_run` has applied the last row — N new customers, every row valid (target < 300 s at
  1,000,000 rows);
- `import_peak_rss_mb`: peak resident memory of this process and, separately, of the largest preparing
  process (the import must not grow with the file);
- `import_1m_rows_unchanged_s`: the same file again; every row is unchanged and nothing is written.

The CSV is generated first (not timed) with the values a core-banking export has: Chinese names, valid
mobile and resident ID numbers, AUM, payroll employers and pay days, birth dates, occupation groups, risk
levels, last transaction dates and the owner's WeCom userid (existing operators of the bench bank). The
customers get numbers no demo customer has (9 + 11 digits); they are deleted again at the end, and the id
sequence is put back, so the bank the other benchmarks measure is left as it was.
"""

import contextlib
import csv
import random
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

from django.core.files import File
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from bench import emit, log

BENCH = "imports"
PREFIX = "9"  # customer numbers 9xxxxxxxxxxx; the demo bank's are C + 10 digits

_CITIES = ["临江", "青州", "云阳", "宁川", "安平", "白沙"]
_REGIONS = ["330102", "330103", "330104", "330205", "330302", "330402", "330501", "330602", "320102", "340104"]
_EMPLOYERS = [
    "科技有限公司", "纺织有限公司", "机械制造有限公司", "市第一人民医院", "市实验中学", "供电公司",
    "汽车零部件有限公司", "电子有限公司", "物流有限公司", "会计师事务所", "建筑设计院有限公司", "食品有限公司",
]  # fmt: skip
_BRANDS = ["恒信", "华创", "博远", "中联", "天元", "瑞丰", "东方", "明德", "金石", "远航", "众合", "宏达"]
_MOBILE_PREFIXES = ["130", "131", "133", "135", "136", "137", "138", "139", "150", "151", "158", "159", "186", "188"]
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_GROUPS = [("白领", 30), ("产业工人", 30), ("退休", 25), ("其他", 15)]
HEADER = [
    "客户号", "姓名", "性别", "手机号", "证件号码", "金融资产", "代发单位", "发薪日", "出生日期", "客群", "风险等级",
    "最近交易日", "客户经理",
]  # fmt: skip


def _id_number(rng: random.Random, birth: date, male: bool) -> str:
    first17 = f"{rng.choice(_REGIONS)}{birth:%Y%m%d}{rng.randrange(500) * 2 + male:03d}"
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def write_file(path: Path, rows: int, owners: list[str], seed: int = 4) -> None:
    """N rows of realistic master data, streamed to disk (nothing is kept in memory)."""
    from workbench.demo.names import person_name

    rng = random.Random(seed)
    r = rng.random
    today = date.today()
    employers = [f"{city}{brand}{trade}" for city in _CITIES for brand in _BRANDS for trade in _EMPLOYERS]
    groups = [name for name, weight in _GROUPS for _ in range(weight)]
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(1, rows + 1):
            group = rng.choice(groups)
            male = r() < 0.5
            age = rng.randint(60, 85) if group == "退休" else rng.randint(20, 59)
            birth = today - timedelta(days=age * 365 + rng.randrange(365))
            employer, payday = "", ""
            if group in ("白领", "产业工人") and r() < 0.88:
                employer, payday = rng.choice(employers), rng.choice((5, 10, 15, 25))
            elif group == "退休" and r() < 0.9:
                employer, payday = f"{rng.choice(_CITIES)}市社会保险事业管理中心", 15
            writer.writerow(
                (
                    f"{PREFIX}{n:011d}",
                    person_name(rng, "M" if male else "F", birth.year),
                    "男" if male else "女",
                    f"{rng.choice(_MOBILE_PREFIXES)}{rng.randrange(10**8):08d}",
                    _id_number(rng, birth, male),
                    f"{rng.lognormvariate(0, 1.5) * 12000:.2f}",
                    employer,
                    payday,
                    birth.isoformat(),
                    group,
                    f"C{rng.randint(1, 5)}" if r() < 0.9 else "",
                    (today - timedelta(days=int(rng.expovariate(1 / 40)))).isoformat(),
                    rng.choice(owners) if owners and r() < 0.9 else "",
                )
            )


def _rss_mb() -> tuple[float, float]:
    """Peak resident set of this process and of the largest child process, in MB (Linux reports KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _delete_imported() -> int:
    """Remove the benchmark's customers (and any row pointing at them), then rewind the id sequence."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "WHERE c.contype = 'f' AND c.confrelid = 'tagging_customer'::regclass"
        )
        referencing = cursor.fetchall()
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_imported AS SELECT id FROM tagging_customer "
            "WHERE customer_no LIKE %s AND length(customer_no) = 12",
            [PREFIX + "%"],
        )
        cursor.execute("SELECT count(*) FROM bench_imported")
        (count,) = cursor.fetchone()
        if count:
            with transaction.atomic():
                for table, column in referencing:
                    cursor.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT id FROM bench_imported)")
                # Nothing points at these customers any more: skip the million foreign-key checks (one per
                # referencing table per row) when the role may (a superuser, as on the bench machine).
                with contextlib.suppress(DatabaseError), transaction.atomic():
                    cursor.execute("SET LOCAL session_replication_role = replica")
                cursor.execute("DELETE FROM tagging_customer WHERE id IN (SELECT id FROM bench_imported)")
        cursor.execute("DROP TABLE bench_imported")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('tagging_customer', 'id'), "
            "GREATEST((SELECT max(id) FROM tagging_customer), 1))"
        )
        if count:
            # A million dead index entries make the planner's look at the ends of indexes slow until vacuum
            # passes: leave the table as a bank's table would be.
            cursor.execute("VACUUM (ANALYZE) tagging_customer")
    return count


def _importer():
    from django.contrib.auth import get_user_model

    from workbench.org.models import Operator
    from workbench.org.roles import Role

    admin = Operator.objects.filter(role=Role.HEAD_OFFICE_ADMIN, user__isnull=False, status="active").first()
    if admin is not None:
        return admin.user
    user, _created = get_user_model().objects.get_or_create(
        username="bench-importer", defaults={"is_superuser": True, "is_staff": True}
    )
    return user


def _timed_import(path: Path, user) -> tuple[float, object]:
    from integrations.bank.services import import_create, import_run

    started = time.perf_counter()
    # The job runs right here, in this process; no Celery message is sent for it.
    with path.open("rb") as handle, mock.patch("integrations.bank.services._enqueue"):
        job = import_create(user=user, kind="customers", upload=File(handle, name="客户主数据.csv"))
    job = import_run(job_id=job.pk)
    return time.perf_counter() - started, job


def run_separately(customers: int, *, bench: str) -> None:
    """This benchmark in a fresh process (its own peak memory, not that of the caller's earlier steps), its
    metrics emitted again under `bench` — how the `tagging` benchmark includes it."""
    import json
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "bench", BENCH, "--customers", str(customers)]
    done = subprocess.run(command, env=os.environ.copy(), stdout=subprocess.PIPE, text=True, check=True)  # noqa: S603
    for line in done.stdout.splitlines():
        metric = json.loads(line)
        emit(bench, metric["metric"], metric["value"], metric["unit"])


def run(customers: int) -> None:
    from django.core.management import call_command

    from workbench.org.models import Operator

    log("migrate")
    call_command("migrate", verbosity=0)
    rows = customers
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as scratch, override_settings(IMPORT_ROOT=scratch):
        removed = _delete_imported()
        if removed:
            log(f"removed {removed:,} customers left by an earlier run")
        owners = list(
            Operator.objects.filter(status="active").exclude(wecom_userid=None).values_list("wecom_userid", flat=True)
        )
        path = Path(scratch) / "customers.csv"
        started = time.perf_counter()
        write_file(path, rows, owners)
        log(f"generated {rows:,} rows, {path.stat().st_size / 2**20:.0f} MB, in {time.perf_counter() - started:.0f}s")
        baseline, _ = _rss_mb()
        user = _importer()
        try:
            seconds, job = _timed_import(path, user)
            own, children = _rss_mb()
            log(
                f"  import #{job.pk}: {job.status} {job.rows_read:,} read, {job.rows_applied:,} applied, "
                f"{job.rows_unchanged:,} unchanged, {job.rows_rejected:,} rejected in {seconds:.1f}s "
                f"({job.rows_read / seconds:,.0f} rows/s; {job.details.get('seconds')}); peak RSS {own:.0f} MB "
                f"(before: {baseline:.0f} MB), largest preparing process {children:.0f} MB"
            )
            assert job.status == "done" and job.rows_applied == rows, (job.status, job.error)
            emit(BENCH, "import_1m_rows_s" if rows == 1_000_000 else f"import_{rows}_rows_s", seconds, "s")
            emit(BENCH, "import_peak_rss_mb", max(own, children), "MB")
            seconds, job = _timed_import(path, user)
            log(
                f"  again #{job.pk}: {job.rows_unchanged:,} unchanged, {job.rows_applied:,} applied in {seconds:.1f}s "
                f"({job.details.get('seconds')})"
            )
            assert job.status == "done" and job.rows_unchanged == rows, (job.status, job.error)
            name = "import_1m_rows_unchanged_s" if rows == 1_000_000 else f"import_{rows}_rows_unchanged_s"
            emit(BENCH, name, seconds, "s")
        finally:
            log(f"cleaning up: {_delete_imported():,} imported customers deleted")
