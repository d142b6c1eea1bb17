"""The delivery engine benchmark: planning a million-customer broadcast, the tick, dispatching to the sandbox.

Metrics (targets from issue 6), on the bench bank of `python -m bench foundation` (reused when it is there):

- `copy_floor_1m_s`: the bare COPY of N delivery rows into the deliveries table (its indexes and constraints
  included), rolled back — the floor any planning can reach;
- `snapshot_1m_s`, `plan_sends_1m_s`, `assemble_1m_s`: a segment of every customer frozen; `plan_sends` (policy
  and one delivery row each, COPY-fed); the due deliveries grouped per sender into send tasks (the tick's work
  before WeCom is called);
- `plan_broadcast_1m_s`: those three together, snapshot → policy → deliveries → per-sender tasks (target < 60);
  `plan_vs_copy_ratio`: plan_broadcast over the copy floor (target ≤ 3);
- `tick_10k_due_s`: one playbook tick with N active enrolments of which 10,000 are due (their send step plans
  through the engine), plus the engine's tick that groups those deliveries into send tasks (target < 10);
  `engine_tick_10k_due_s`: the engine's tick alone with N planned deliveries of which 10,000 are due (spread
  over every sender, the worst case: one small task per sender);
- `dispatch_tasks_per_s`, `dispatch_recipients_per_s`: send tasks handed to a WeCom sandbox subprocess (its rate
  limits on: 10,000 calls a minute per API) by 4 sender loops, rendering and tracked links included.

The engine's rows made here are deleted at the end; the bank is left as it was.
"""

import io
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import time as dtime
from datetime import timedelta
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from bench import emit, log

BENCH = "engine"
SOURCE_KIND = "bench"
DISPATCH_TASKS = 200  # send tasks dispatched to the sandbox
DUE = 10_000
COLUMNS = (
    "source_kind, source_id, step_key, customer_id, sender_id, content_version_id, priority, status, reason, due_at,"
    " created_at"
)


def _cleanup() -> None:
    """Every row this benchmark made in the engine's tables."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM delivery_delivery WHERE source_kind = %s", [SOURCE_KIND])
        cursor.execute("DELETE FROM delivery_suppression WHERE source_kind = %s", [SOURCE_KIND])
        cursor.execute(
            "DELETE FROM delivery_operatortask WHERE source_kind = 'send_task' AND source_id IN"
            " (SELECT id FROM delivery_sendtask WHERE source_kind = %s)",
            [SOURCE_KIND],
        )
        cursor.execute(
            "DELETE FROM links_trackedlink WHERE context = 'playbook' AND context_id IN"
            " (SELECT id FROM delivery_sendtask WHERE source_kind = %s)",
            [SOURCE_KIND],
        )
        cursor.execute("DELETE FROM delivery_sendtask WHERE source_kind = %s", [SOURCE_KIND])


def _vacuum() -> None:
    """Dead rows of the rolled-back COPY and of cleanups out of the way, fresh statistics (outside a transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE delivery_delivery")
        cursor.execute("VACUUM ANALYZE delivery_sendtask")


def _content():
    from django.contrib.auth import get_user_model

    from campaigns.content.models import ContentItem, ContentVersion
    from workbench.org.models import Branch

    users = get_user_model().objects
    author, _ = users.get_or_create(username="bench_engine_author")
    reviewer, _ = users.get_or_create(username="bench_engine_reviewer")
    head = Branch.objects.order_by("path").first()
    item = ContentItem.objects.create(title="基准测试群发", use=ContentItem.Use.MASS, branch=head, created_by=author)
    version = ContentVersion.objects.create(
        item=item,
        number=1,
        text="{{operator_name}}为您推荐本月新发短期理财，详情：https://bank.example/wealth",
        status=ContentVersion.Status.APPROVED,
        author=author,
        reviewed_by=reviewer,
        reviewed_at=timezone.now(),
    )
    item.current = version
    item.save(update_fields=["current"])
    return version


def copy_floor(ids: list[int], version_id: int, sender_of: dict) -> float:
    """The bare COPY of one delivery row per id, committed (its constraint checks included), then deleted."""
    now = timezone.now().isoformat()
    buffer = io.StringIO()
    for pk in ids:
        sender = sender_of.get(pk)
        sender_text = sender if sender else "\\N"
        buffer.write(f"{SOURCE_KIND}\t1\tfloor\t{pk}\t{sender_text}\t{version_id}\t5\tplanned\t\t{now}\t{now}\n")
    data = buffer.getvalue()
    started = time.perf_counter()
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY delivery_delivery ({COLUMNS}) FROM STDIN") as copy,
    ):
        copy.write(data)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM delivery_delivery WHERE source_kind = %s AND step_key = 'floor'", [SOURCE_KIND])
    return seconds


def snapshot_all():
    from django.contrib.auth import get_user_model

    from tagging.segments.models import Segment
    from tagging.segments.services import segment_snapshot

    owner = get_user_model().objects.get(username="bench_engine_author")
    segment = Segment.objects.create(
        name="基准：全部客户",
        condition={"match": "all", "rules": [{"field": "aum", "op": "gte", "value": "0"}]},
        owner=owner,
    )
    started = time.perf_counter()
    snapshot = segment_snapshot(segment, purpose="engine benchmark")
    ids = snapshot.member_ids()
    return ids, time.perf_counter() - started, segment


def _policy_without_quiet_hours():
    from campaigns.delivery.policy import get_policy

    policy = get_policy()
    saved = (policy.quiet_start, policy.quiet_end)
    policy.quiet_start = policy.quiet_end = dtime(0, 0)
    policy.save()
    return policy, saved


def _seed_sandbox(sandbox_url: str, task_ids: list[int]) -> None:
    import requests

    from campaigns.delivery.models import Delivery, SendTask

    tasks = SendTask.objects.filter(pk__in=task_ids).select_related("sender")
    members = sorted({(t.sender.wecom_userid, t.sender.name) for t in tasks})
    rows = Delivery.objects.filter(send_task_id__in=task_ids).values_list(
        "sender__wecom_userid", "customer__external_userid", "customer__name"
    )
    payload = {
        "departments": [{"id": 1, "name": "基准银行", "parentid": 0}],
        "members": [{"userid": userid, "name": name, "department": [1]} for userid, name in members],
        "contacts": [{"external_userid": external, "name": name, "type": 1} for _u, external, name in rows],
        "follows": [{"userid": userid, "external_userid": external} for userid, external, _n in rows],
    }
    requests.post(f"{sandbox_url}/sandbox/api/seed", json=payload, timeout=600).raise_for_status()


def _start_sandbox(workdir: Path) -> tuple[subprocess.Popen, str]:
    from django.conf import settings

    args = [sys.executable, "manage.py", "wecom_sandbox", "--port", "0", "--state", str(workdir / "sandbox.sqlite3")]
    args += ["--no-workbench", "--no-simulate", "--quiet", "--confirm-delay", "-1", "--callback-url", ""]
    args += ["--corp-id", settings.WECOM_CORP_ID, "--secret", settings.WECOM_SECRET]
    proc = subprocess.Popen(  # noqa: S603 - our own manage.py
        args, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    line = proc.stdout.readline().decode()
    port = int(line.split("127.0.0.1:")[1].split("/")[0])
    return proc, f"http://127.0.0.1:{port}"


def dispatch_to_sandbox() -> tuple[float, float]:
    """DISPATCH_TASKS pending send tasks through 4 sender loops; (tasks/s, recipients/s)."""
    from django.conf import settings

    from campaigns.delivery import dispatch
    from campaigns.delivery.models import SendTask

    pending = list(
        SendTask.objects.filter(source_kind=SOURCE_KIND, status="pending").order_by("pk").values_list("pk", flat=True)
    )
    chosen = pending[:DISPATCH_TASKS]
    SendTask.objects.filter(pk__in=pending[DISPATCH_TASKS:]).update(status="cancelled")
    workdir = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    settings.WECOM_CORP_ID, settings.WECOM_SECRET, settings.WECOM_AGENT_ID = "wwbenchcorp", "bench-secret", 1000002
    proc, url = _start_sandbox(workdir)
    try:
        _seed_sandbox(url, chosen)
        settings.WECOM_API_BASE_URL = f"{url}/cgi-bin/"
        recipients = sum(SendTask.objects.filter(pk__in=chosen).values_list("recipients", flat=True))

        def loop(_):
            try:
                return dispatch.send_waiting(budget_seconds=600)
            finally:
                connection.close()

        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(loop, range(4)))
        seconds = time.perf_counter() - started
        log(f"  dispatch outcomes: {outcomes}")
        submitted = SendTask.objects.filter(pk__in=chosen, status="submitted").count()
        log(f"  {submitted}/{len(chosen)} tasks submitted ({recipients:,} recipients) in {seconds:.1f}s")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return submitted / seconds, recipients * submitted / len(chosen) / seconds


def engine_tick(due_share_ids: list[int]) -> float:
    """N planned deliveries, DUE of them due now (every 100th: spread over every sender); the engine's tick."""
    from campaigns.delivery import dispatch
    from campaigns.delivery.models import Delivery, SendTask

    later = timezone.now() + timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE delivery_delivery SET status = 'planned', send_task_id = NULL, due_at = %s, reason = ''"
            " WHERE source_kind = %s AND status <> 'suppressed'",
            [later, SOURCE_KIND],
        )
        cursor.execute("DELETE FROM delivery_sendtask WHERE source_kind = %s", [SOURCE_KIND])
    due_ids = due_share_ids[:DUE]
    Delivery.objects.filter(pk__in=due_ids).update(due_at=timezone.now() - timedelta(seconds=1))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE delivery_delivery")
    started = time.perf_counter()
    stats = dispatch.assemble_due(budget_seconds=600)
    seconds = time.perf_counter() - started
    log(f"  engine tick: {dict(stats)}; {SendTask.objects.filter(source_kind=SOURCE_KIND).count()} send tasks")
    return seconds


def playbook_tick(ids, version) -> float | None:
    """The playbooks' tick over N active enrolments with DUE due (a one-step send playbook), then the engine's."""
    try:
        from campaigns.playbooks import runner, services
        from campaigns.playbooks.enrol import enrol
        from campaigns.playbooks.models import Enrolment, Playbook
    except ImportError:
        return None
    from django.contrib.auth import get_user_model

    from campaigns.delivery import dispatch

    admin = get_user_model().objects.filter(username="admin").first()
    if admin is None:
        return None
    draft = {
        "trigger": {"type": "manual"},
        "audience": [],
        "steps": [{"key": "s1", "type": "send", "content_item": version.item_id}],
        "exits": [],
        "reentry": "never",
        "cooldown_days": 30,
    }
    playbook = services.playbook_create(name="基准剧本", draft=draft, actor=admin)
    try:
        services.playbook_publish(playbook=playbook, actor=admin)
        playbook.refresh_from_db()
        live = playbook.live_version
        now = timezone.now()
        later = now + timedelta(days=1)
        ordered = list(ids)
        rng = random.Random(6)
        due = set(rng.sample(ordered, DUE))
        log(f"  enrolling {len(ordered):,} customers in a one-step playbook ({DUE:,} due now)")
        started = time.perf_counter()
        enrol(live, [(pk, "bench", now - timedelta(seconds=1) if pk in due else later) for pk in ordered], now=now)
        log(f"  enrolled in {time.perf_counter() - started:.0f}s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE playbooks_enrolment")
        started = time.perf_counter()
        stats = runner.tick(timezone.now(), max_seconds=600)
        planned = time.perf_counter() - started
        assembled = dispatch.assemble_due(budget_seconds=600)
        seconds = time.perf_counter() - started
        log(f"  playbook tick {planned:.1f}s: {stats}; engine tick: {dict(assembled)}")
        return seconds
    finally:
        with connection.cursor() as cursor:
            version_ids = list(playbook.versions.values_list("pk", flat=True))
            cursor.execute(
                "DELETE FROM delivery_delivery WHERE source_kind = 'playbook' AND source_id = ANY(%s)", [version_ids]
            )
            cursor.execute(
                "DELETE FROM delivery_suppression WHERE source_kind = 'playbook' AND source_id = ANY(%s)", [version_ids]
            )
            cursor.execute(
                "DELETE FROM delivery_sendtask WHERE source_kind = 'playbook' AND source_id = ANY(%s)", [version_ids]
            )
            cursor.execute("DELETE FROM playbooks_steprun WHERE version_id = ANY(%s)", [version_ids])
            cursor.execute("DELETE FROM playbooks_enrolment WHERE playbook_id = %s", [playbook.pk])
        Playbook.objects.filter(pk=playbook.pk).update(live_version=None)
        Enrolment.objects.filter(playbook_id=playbook.pk).delete()
        try:
            playbook.versions.all().delete()
            playbook.delete()
        except Exception as exc:  # noqa: BLE001 - leave it archived rather than fail the benchmark
            log(f"  (playbook {playbook.pk} left in place: {exc})")


def run(customers: int) -> None:
    from django.core.management import call_command

    from campaigns.delivery import dispatch, services
    from tagging.models import Customer

    log("migrate")
    call_command("migrate", verbosity=0)
    have = Customer.objects.count()
    if have < customers:
        log(f"{have:,} customers in the database; seeding {customers:,} (python -m bench foundation does the same)")
        call_command(
            "seed_demo",
            customers=customers,
            operators=max(50, round(customers / 400)),
            reset=True,
            stdout=io.StringIO(),
        )
    _cleanup()
    policy, saved = _policy_without_quiet_hours()
    try:
        version = _content()
        ids, snapshot_s, segment = snapshot_all()
        ids = list(ids)[:customers]
        log(f"snapshot of {len(ids):,} customers in {snapshot_s:.1f}s")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT ON (customer_id) customer_id, operator_id FROM tagging_followrelationship"
                " WHERE deleted_at IS NULL ORDER BY customer_id, added_at DESC"
            )
            sender_of = dict(cursor.fetchall())
        _vacuum()
        floor = copy_floor(ids, version.pk, sender_of)
        log(f"copy floor: {floor:.1f}s")
        _vacuum()
        started = time.perf_counter()
        result = services.plan_sends(
            customer_ids=ids,
            content_version=version,
            source_kind=SOURCE_KIND,
            source_id=1,
            step_key="broadcast",
            due_at=timezone.now(),
        )
        plan_s = time.perf_counter() - started
        log(
            f"plan_sends: {plan_s:.1f}s — planned {result.planned:,}, suppressed {result.suppressed:,} {result.reasons}"
        )
        started = time.perf_counter()
        stats = dispatch.assemble_due(budget_seconds=3600)
        assemble_s = time.perf_counter() - started
        log(f"assemble: {assemble_s:.1f}s — {stats['tasks']:,} send tasks, {stats['queued']:,} deliveries")
        total = snapshot_s + plan_s + assemble_s
        emit(BENCH, "copy_floor_1m_s", floor, "s")
        emit(BENCH, "snapshot_1m_s", snapshot_s, "s")
        emit(BENCH, "plan_sends_1m_s", plan_s, "s")
        emit(BENCH, "assemble_1m_s", assemble_s, "s")
        emit(BENCH, "plan_broadcast_1m_s", total, "s")
        print(
            f'{{"bench": "{BENCH}", "metric": "plan_vs_copy_ratio", "value": {total / floor:.2f}, "unit": "x"}}',
            flush=True,
        )
        log("dispatch to the sandbox")
        tasks_per_s, recipients_per_s = dispatch_to_sandbox()
        emit(BENCH, "dispatch_tasks_per_s", tasks_per_s, "tasks/s")
        emit(BENCH, "dispatch_recipients_per_s", recipients_per_s, "recipients/s")
        from campaigns.delivery.models import Delivery

        spread = list(
            Delivery.objects.filter(source_kind=SOURCE_KIND)
            .exclude(status="suppressed")
            .order_by("pk")
            .values_list("pk", flat=True)[::100]
        )
        log(f"engine tick: {len(ids):,} planned deliveries, {DUE:,} due")
        emit(BENCH, "engine_tick_10k_due_s", engine_tick(spread), "s")
        _cleanup()
        _vacuum()
        tick = playbook_tick(ids, version)
        if tick is None:
            log("tick_10k_due_s: the playbooks app is not there; engine_tick_10k_due_s stands for it")
        else:
            emit(BENCH, "tick_10k_due_s", tick, "s")
        segment.delete()
    finally:
        _cleanup()
        policy.quiet_start, policy.quiet_end = saved
        policy.save()
