"""The supervision benchmark: 90 days of history at a million customers, then the daily facts timed.

Metrics (targets from issue 7), on a bank of N customers and N/500 operators (2,000 at a million), in a
database of its own (`workbench_supervision`, so other benchmarks' resets do not race it):

- `history_s`: generating and COPYing the 90 days (sends, deliveries, clicks, tasks, 1:1 messages, purchases,
  behaviour data; `workbench/supervision/demo.py` at the volumes below), not a target, for context;
- `attribution_90_days_s`: attributing every purchase of the 90 days;
- `facts_90_days_s`: `compute_range` over the 90 days (every operator, every day);
- `uplift_refresh_s`: measuring every A/B playbook's uplift against its control group into the cache (the facts
  beat does it; dashboards read the cached answer);
- `facts_one_day_s`: `compute_day` of yesterday, recomputed over the full history (target < 60);
- then `bench.supervision_reports.measure(emit, days=…)` (dashboard p95 and the month's bank Excel export),
  when that module is there.

The history is made once: a database that already holds it (behaviour rows of the period) is reused.
"""

import functools
import importlib
import io
import time
from datetime import timedelta

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from bench import emit, log

BENCH = "supervision"
DAYS = 90


def _bank(customers: int) -> None:
    from tagging.models import Customer

    have = Customer.objects.count()
    if have >= customers:
        log(f"{have:,} customers in the database: reused")
        return
    operators = max(50, customers // 500)
    log(f"{have:,} customers in the database; seed_demo --customers {customers:,} --operators {operators:,}")
    started = time.perf_counter()
    call_command("seed_demo", customers=customers, operators=operators, reset=True, stdout=io.StringIO())
    log(f"  seeded in {time.perf_counter() - started:.0f}s")


def _history(first, today) -> None:
    from workbench.supervision.demo import seed_history
    from workbench.supervision.models import BehaviorDay

    if BehaviorDay.objects.filter(day=first).exists() and BehaviorDay.objects.filter(day=today - timedelta(1)).exists():
        log("history of the period already there: reused")
        return
    started = time.perf_counter()
    summary = seed_history(days=DAYS, today=today, compute=False, log=log)
    emit(BENCH, "history_s", time.perf_counter() - started, "s")
    log(f"  {summary}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _effective_tags(first) -> None:
    """A benchmark-sized `seed_demo` leaves rule tags to the scheduler; the effective-customer figure joins its
    tag, so the bank gets it here as the starter rule defines it (AUM ≥ 10,000 and a WeCom contact), dated over
    the period as the demo does."""
    from tagging.models import Customer, CustomerTag
    from workbench.supervision import services

    tag = services.effective_tag_id()
    if tag is None or CustomerTag.objects.filter(tag_id=tag).exists():
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CustomerTag._meta.db_table} (customer_id, tag_id, source, pinned, added_at)"
            f" SELECT id, %s, 'rule', false,"
            " %s::timestamptz + ((CAST(id AS BIGINT) * 7919) %% 300 - 210) * INTERVAL '1 day'"
            f" FROM {Customer._meta.db_table} WHERE aum >= 10000 AND external_userid IS NOT NULL"
            " ON CONFLICT DO NOTHING",
            [tag, services.day_bounds(first)[0]],
        )
        log(f"  {cursor.rowcount:,} customers tagged 有效客户 ({time.perf_counter() - started:.0f}s)")
        cursor.execute(f"ANALYZE {CustomerTag._meta.db_table}")


def run(customers: int) -> None:
    from workbench.org.models import Operator
    from workbench.supervision import attribution, services

    log("migrate")
    call_command("migrate", verbosity=0)
    _bank(customers)
    log(f"{Operator.objects.count():,} operators")
    today = timezone.localdate()
    first = today - timedelta(days=DAYS)
    yesterday = today - timedelta(days=1)
    _history(first, today)
    _effective_tags(first)

    started = time.perf_counter()
    attribution.attribute_days(first, yesterday)
    emit(BENCH, "attribution_90_days_s", time.perf_counter() - started, "s")

    started = time.perf_counter()
    services.compute_range(first, yesterday)
    emit(BENCH, "facts_90_days_s", time.perf_counter() - started, "s")

    started = time.perf_counter()
    playbooks = services.refresh_playbook_uplifts()  # what the facts beat does after computing, for dashboards
    emit(BENCH, "uplift_refresh_s", time.perf_counter() - started, "s")
    log(f"  uplift of {playbooks} playbooks with a control group measured")

    started = time.perf_counter()
    rows = services.compute_day(yesterday)
    emit(BENCH, "facts_one_day_s", time.perf_counter() - started, "s")
    log(f"  {rows:,} operator rows for {yesterday}")

    try:
        reports = importlib.import_module("bench.supervision_reports")
    except ModuleNotFoundError:
        log("bench/supervision_reports.py is not there yet: no dashboard or Excel figures")
        return
    reports.measure(functools.partial(emit, BENCH), days=DAYS)
