"""`make chaos` / `python -m bench chaos --customers 50000`: the delivery engine against real processes that die.

It builds a bank of N customers (one operator with 12,000 of them, so that a sender's customers need two send
tasks; the rest spread over 100 operators) in a dedicated database, starts

- a private Redis on a free port (the broker and cache of this run only: it can be restarted without touching
  anyone else's Redis),
- the WeCom sandbox (members confirm mass sends after 2 s; 20 % of calls fail with -1, 45009 storms every 15 s,
  and a few `add_msg_template` calls hang past the client's timeout *after* WeCom created the task),
- a Celery worker (queues wecom and compute, 4 processes) and a tick process that does beat's job every second,

plans a broadcast to every customer, and while it is dispatched kills the worker's whole process group with
SIGKILL three times (restarting it each time), restarts Redis once, then waits until every delivery is settled.
The ledger compares our rows with what the sandbox holds and prints one JSON line:

    {"planned": 50000, "sent_tasks": 102, "duplicates": 0, "lost": 0, ...}

`duplicates`: customers who got the broadcast more than once, plus sandbox mass messages no send task knows;
`lost`: planned customers the sandbox never delivered to. Both must be 0 (the exit code says so too).
The pytest version (tests/delivery/test_chaos.py) runs the same harness smaller.
"""

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import time as dtime
from pathlib import Path

from bench import log

ROOT = Path(__file__).resolve().parent.parent
BIG_OPERATOR = 12_000  # customers of the one operator whose send needs two tasks
OPERATORS = 100
SOURCE = ("broadcast", 424242, "chaos")
CORP = {"corp_id": "wwchaoscorp", "secret": "chaos-secret", "agent_id": "1000002"}


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the bank ------------------------------------------------------------------------------------------------------


def build_bank(customers: int, *, operators: int = OPERATORS, big: int = BIG_OPERATOR):
    """Operators, customers and live follows (bulk), approved content, a policy without quiet hours."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from campaigns.content.models import ContentItem, ContentVersion
    from campaigns.delivery.policy import get_policy
    from tagging.models import Customer, FollowRelationship
    from workbench.org.models import Branch, Operator
    from workbench.org.services import branch_create

    head = branch_create(name="混沌银行", level=Branch.Level.HEAD_OFFICE)
    ops = Operator.objects.bulk_create(
        [
            Operator(name=f"混沌经理{i}", wecom_userid=f"chaos{i:04d}", branch=head, title="客户经理")
            for i in range(operators + 1)
        ]
    )
    big = min(big, customers // 4) if customers < 4 * big else big
    owners = [ops[0]] * big + [ops[1 + i % operators] for i in range(customers - big)]
    now = timezone.now()
    for start in range(0, customers, 10_000):
        part = Customer.objects.bulk_create(
            [
                Customer(
                    customer_no=f"H{start + i:011d}",
                    name=f"混沌客户{start + i}",
                    external_userid=f"wmCHAOS{start + i:08d}",
                    owner=owner,
                    branch=head,
                )
                for i, owner in enumerate(owners[start : start + 10_000])
            ]
        )
        FollowRelationship.objects.bulk_create(
            [FollowRelationship(customer=c, operator=c.owner, added_at=now) for c in part]
        )
    users = get_user_model().objects
    author = users.create_user(username=f"chaos_author_{os.getpid()}")
    reviewer = users.create_user(username=f"chaos_reviewer_{os.getpid()}")
    item = ContentItem.objects.create(title="混沌测试群发", use=ContentItem.Use.MASS, branch=head, created_by=author)
    version = ContentVersion.objects.create(
        item=item,
        number=1,
        text="{{operator_name}}为您推荐本月短期理财：https://bank.example/wealth/2026",
        status=ContentVersion.Status.APPROVED,
        author=author,
        reviewed_by=reviewer,
        reviewed_at=now,
    )
    item.current = version
    item.save(update_fields=["current"])
    policy = get_policy()
    policy.quiet_start = policy.quiet_end = dtime(0, 0)
    policy.save()
    return version, list(Customer.objects.filter(branch=head).values_list("pk", flat=True))


def corp_payload() -> dict:
    from tagging.models import FollowRelationship
    from workbench.org.models import Operator

    members = [
        {"userid": userid, "name": name, "department": [1]}
        for userid, name in Operator.objects.exclude(wecom_userid=None).values_list("wecom_userid", "name")
    ]
    follows = list(
        FollowRelationship.objects.filter(deleted_at=None)
        .exclude(customer__external_userid=None)
        .exclude(operator__wecom_userid=None)
        .values_list("operator__wecom_userid", "customer__external_userid", "customer__name")
    )
    return {
        "departments": [{"id": 1, "name": "混沌银行", "parentid": 0}],
        "members": members,
        "contacts": [{"external_userid": external, "name": name, "type": 1} for _u, external, name in follows],
        "follows": [{"userid": userid, "external_userid": external} for userid, external, _n in follows],
    }


# --- the processes -------------------------------------------------------------------------------------------------


@dataclass
class Processes:
    database_url: str
    workdir: Path
    worker_concurrency: int = 4
    redis_port: int = 0
    sandbox_port: int = 0
    procs: dict = field(default_factory=dict)
    logs: dict = field(default_factory=dict)

    def env(self) -> dict:
        env = os.environ | {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "DJANGO_SETTINGS_MODULE": "workbench.settings",
            "VAR_DIR": str(self.workdir / "var"),
            "WECOM_API_BASE_URL": f"http://127.0.0.1:{self.sandbox_port}/cgi-bin/",
            "WECOM_CORP_ID": CORP["corp_id"],
            "WECOM_SECRET": CORP["secret"],
            "WECOM_AGENT_ID": CORP["agent_id"],
            "WECOM_TIMEOUT_SECONDS": "2",
            "WECOM_RETRY_BASE_SECONDS": "0.05",
            "DELIVERY_SETTLE_SECONDS": "8",
            "DELIVERY_POLL_SECONDS": "2",
            "DELIVERY_SENDERS": str(self.worker_concurrency),
            "PYTHONUNBUFFERED": "1",
        }
        # The bench's (or the tests') development secrets are in the environment already; these are fallbacks.
        env.setdefault("SECRET_KEY", "chaos-secret-key-not-for-production")
        env.setdefault("PII_INDEX_KEY", "chaos-pii-index-key")
        env.setdefault("FIELD_ENCRYPTION_KEYS", "Y2hhb3Mta2V5LTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU=")
        env.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
        return env

    def _spawn(self, name: str, args: list[str], *, env: dict | None = None) -> subprocess.Popen:
        log_file = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(  # noqa: S603 - our own commands
            args,
            cwd=ROOT,
            env=env or self.env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: SIGKILL reaches every child
        )
        log_file.close()
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill(name)

    # Redis ----------------------------------------------------------------------------------------------------

    def start_redis(self) -> None:
        self.redis_port = self.redis_port or free_port()
        self._spawn(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.2):
                return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def restart_redis(self) -> None:
        self.kill("redis")
        time.sleep(1.0)
        self.start_redis()

    # the sandbox --------------------------------------------------------------------------------------------------

    def start_sandbox(self) -> None:
        self.sandbox_port = self.sandbox_port or free_port()
        args = [sys.executable, "manage.py", "wecom_sandbox", "--port", str(self.sandbox_port)]
        args += ["--state", str(self.workdir / "sandbox.sqlite3"), "--no-workbench", "--no-simulate", "--quiet"]
        args += ["--corp-id", CORP["corp_id"], "--secret", CORP["secret"], "--agent-id", CORP["agent_id"]]
        args += ["--confirm-delay", "2", "--callback-url", "", "--seed", "7"]
        self._spawn("sandbox", args, env=self.env() | {"DJANGO_SETTINGS_MODULE": "tests.settings"})
        for _ in range(300):
            with contextlib.suppress(Exception):
                self.control("GET", "state")
                return
            time.sleep(0.1)
        raise RuntimeError(f"the sandbox did not start; see {self.workdir / 'sandbox.log'}")

    def control(self, method: str, path: str, payload=None, **params) -> dict:
        import requests

        url = f"http://127.0.0.1:{self.sandbox_port}/sandbox/api/{path}"
        response = requests.request(method, url, json=payload, params=params, timeout=120)
        response.raise_for_status()
        return response.json()

    # workers and ticks --------------------------------------------------------------------------------------

    def start_worker(self) -> None:
        args = [sys.executable, "-m", "celery", "--app", "workbench", "worker", "--queues", "wecom,compute"]
        args += ["--concurrency", str(self.worker_concurrency), "--hostname", f"chaos{time.monotonic_ns()}@%h"]
        args += ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "WARNING"]
        self._spawn("worker", args)

    def start_ticker(self) -> None:
        self._spawn("ticker", [sys.executable, "-m", "bench.chaos", "tick"])


def tick_forever() -> None:
    """Beat's job, every second (its schedule in workbench/celery.py is 15 s and up): every tick goes through the
    broker, so a Redis restart loses some of them — which is the point."""
    import django

    django.setup()
    from campaigns.delivery import tasks

    every = {tasks.dispatch_due: 1, tasks.poll_results: 2, tasks.cancel_stale: 30, tasks.remind_unconfirmed: 60}
    last: dict = {}
    while True:
        now = time.monotonic()
        for task, period in every.items():
            if now - last.get(task, 0) >= period:
                try:
                    task.delay()
                    last[task] = now
                except Exception as exc:  # noqa: BLE001 - Redis is down on purpose now and then
                    print(f"tick {task.name}: {exc}", flush=True)
        time.sleep(0.2)


# --- the run -------------------------------------------------------------------------------------------------------


def sandbox_rows(state_path: Path) -> tuple[list[tuple], list[str]]:
    with contextlib.closing(sqlite3.connect(state_path, timeout=60)) as db:
        results = db.execute("SELECT msgid, userid, external_userid, status FROM groupmsg_result").fetchall()
        msgids = [row[0] for row in db.execute("SELECT msgid FROM groupmsg")]
    return results, msgids


def ledger(state_path: Path) -> dict:
    from campaigns.delivery.models import Delivery, SendTask

    deliveries = Delivery.objects.filter(source_kind=SOURCE[0], source_id=SOURCE[1], step_key=SOURCE[2])
    planned = dict(
        deliveries.exclude(status=Delivery.Status.SUPPRESSED).values_list("customer__external_userid", "send_task_id")
    )
    results, msgids = sandbox_rows(state_path)
    tasks = SendTask.objects.filter(source_kind=SOURCE[0], source_id=SOURCE[1])
    known = set(tasks.exclude(msgid=None).values_list("msgid", flat=True))
    received = Counter(external for _m, _u, external, status in results if status in (0, 1))
    delivered = {external for _m, _u, external, status in results if status == 1}
    twice = sum(1 for n in received.values() if n > 1)
    orphans = len(set(msgids) - known)  # a send task created twice in WeCom
    lost = sum(1 for external in planned if external not in delivered)
    return {
        "planned": len(planned),
        "in_send_tasks": sum(1 for task_id in planned.values() if task_id is not None),
        "sent_tasks": len(known),
        "sandbox_messages": len(msgids),
        "delivered": deliveries.filter(status=Delivery.Status.DELIVERED).count(),
        "duplicates": twice + orphans,
        "lost": lost,
        "adopted": tasks.filter(adopted=True).count(),
        "attempts": sum(tasks.values_list("attempts", flat=True)),
    }


def settled() -> bool:
    from campaigns.delivery.models import Delivery, SendTask

    open_rows = Delivery.objects.filter(
        source_kind=SOURCE[0],
        source_id=SOURCE[1],
        status__in=[Delivery.Status.PLANNED, Delivery.Status.QUEUED, Delivery.Status.SUBMITTED],
    )
    return not open_rows.exists() and not SendTask.objects.exclude(status__in=SendTask.FINISHED).exists()


def run_chaos(
    customers: int,
    *,
    database_url: str,
    kills: int = 3,
    redis_restart: bool = True,
    timeout: float = 900,
    worker_concurrency: int = 4,
    operators: int = OPERATORS,
    big: int = BIG_OPERATOR,
) -> dict:
    """Build, start, plan, kill, wait, count. Django must be set up on `database_url` (its data committed)."""
    from campaigns.delivery import services
    from campaigns.delivery.models import SendTask

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="delivery-chaos-"))
    (workdir / "var").mkdir()
    procs = Processes(database_url=database_url, workdir=workdir, worker_concurrency=worker_concurrency)
    events: list[str] = []
    try:
        log(f"chaos: building {customers:,} customers ({workdir})")
        version, ids = build_bank(customers, operators=operators, big=big)
        procs.start_redis()
        procs.start_sandbox()
        procs.control("POST", "seed", corp_payload())
        procs.control("POST", "settings", {"dispatch_seconds": 2})
        procs.control("POST", "faults", {"path_prefix": "externalcontact/", "error_rate": 0.2, "latency_ms": 20})
        procs.start_worker()
        procs.start_ticker()
        from django.utils import timezone

        result = services.plan_sends(
            customer_ids=ids,
            content_version=version,
            source_kind=SOURCE[0],
            source_id=SOURCE[1],
            step_key=SOURCE[2],
            due_at=timezone.now(),
        )
        log(f"chaos: planned {result.planned:,} (suppressed {result.suppressed})")
        expected_tasks = operators + (2 if big > 10_000 else 1)
        kill_at = [max(1, round(expected_tasks * share)) for share in (0.15, 0.45, 0.75)][:kills]
        redis_at = max(1, round(expected_tasks * 0.6)) if redis_restart else None
        hung = False
        last_storm = time.monotonic()
        while time.monotonic() - started < timeout:
            submitted = SendTask.objects.filter(source_id=SOURCE[1]).exclude(msgid=None).count()
            if kill_at and submitted >= kill_at[0]:
                kill_at.pop(0)
                procs.kill("worker")
                events.append(f"worker killed at {submitted} tasks")
                log(f"chaos: kill -9 the worker ({submitted} tasks in WeCom)")
                time.sleep(1.0)
                procs.start_worker()
            if redis_at is not None and submitted >= redis_at:
                redis_at = None
                log(f"chaos: restarting Redis ({submitted} tasks in WeCom)")
                procs.restart_redis()
                events.append(f"redis restarted at {submitted} tasks")
            if not hung and submitted >= expected_tasks * 0.3:
                hung = True  # WeCom creates these tasks but answers after our timeout
                procs.control("POST", "faults", {"path_prefix": "externalcontact/", "hang_next": 2, "hang_seconds": 4})
                log("chaos: two calls hang past the client's timeout")
            if time.monotonic() - last_storm > 15:
                last_storm = time.monotonic()
                procs.control("POST", "faults", {"freq_limit_seconds": 3})  # a 45009 storm
            if not kill_at and redis_at is None and settled():
                break
            time.sleep(0.5)
        procs.control("DELETE", "faults")
        counts = ledger(workdir / "sandbox.sqlite3")
    finally:
        procs.stop_all()
    counts |= {
        "worker_kills": sum("worker killed" in e for e in events),
        "redis_restarts": sum("redis" in e for e in events),
        "seconds": round(time.monotonic() - started, 1),
    }
    return counts


def run(customers: int) -> None:
    """`python -m bench chaos`: a dedicated database, emptied first."""
    from django.core.management import call_command
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if "chaos" not in name:
        raise SystemExit(f"the chaos run empties its database; point DATABASE_URL at a *_chaos one, not {name!r}")
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    url = os.environ["DATABASE_URL"]
    counts = run_chaos(customers, database_url=url)
    print(json.dumps(counts), flush=True)
    if counts["duplicates"] or counts["lost"]:
        raise SystemExit(1)


if __name__ == "__main__" and sys.argv[1:] == ["tick"]:
    tick_forever()
