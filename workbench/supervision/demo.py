"""The demo bank's last 90 days, so dashboards, scores and reports open full: `seed_history()`.

Made from the bank `seed_demo` built (operators, live follows, products, the starter playbooks): per day and
operator, mass sends of the starter playbooks' messages (the payroll playbook's A/B split with its control group,
as enrolments and step runs, so its uplift can be measured), confirmed after a realistic delay or not at all,
their deliveries, tracked links and clicks; operator tasks done on time, late or left overdue; 1:1 messages;
purchases, more likely after a touch; follows deleted by customers and operators; WeCom behaviour data as the
sandbox reports it. Then attribution and the daily facts are computed for the whole period.

Rows are generated in one process with a seeded random generator and written in bulk: COPY on PostgreSQL, one
executemany per table on SQLite. The benchmark uses the same generator at a million customers.
"""

import itertools
import math
import random
import secrets
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from campaigns.content.models import ContentVersion
from campaigns.delivery.models import ChatMessage, Delivery, OperatorTask, SendTask
from campaigns.links.models import LinkClick, TrackedLink
from campaigns.playbooks.models import Enrolment, Playbook, StepRun
from integrations.bank.models import PayrollCredit, ProductPurchase
from integrations.wecom_sandbox.endpoints.behavior import day_figures
from tagging.models import Customer, CustomerTag, FollowRelationship, OccupationGroup, Product
from workbench.org.models import Operator
from workbench.supervision import attribution, services
from workbench.supervision.models import BehaviorDay

HISTORY_DAYS = 90
DELETED_BY_CUSTOMER = FollowRelationship.DeletedBy.CUSTOMER
DELETED_BY_OPERATOR = FollowRelationship.DeletedBy.OPERATOR
# At most this many customers get history with `seed_demo` itself; a benchmark-sized bank calls the generator
# on its own (python -m bench supervision), as `seed_demo` leaves big rule evaluations to the scheduler.
DEMO_MAX_CUSTOMERS = 100_000


@dataclass
class Volumes:
    """How busy a day is (shares are per operator and working day unless said otherwise)."""

    send_days: float = 0.45  # share of working days an operator gets a mass send
    send_share: tuple[float, float] = (0.04, 0.12)  # of the operator's customers
    send_cap: int = 400
    confirm_share: float = 0.88
    delivered_share: float = 0.96
    click_share: float = 0.07  # of delivered messages
    tasks_per_day: tuple[int, int] = (1, 4)
    chats_per_day: tuple[int, int] = (0, 6)
    buy_after_delivery: float = 0.012
    buy_after_task: float = 0.04
    buy_after_chat: float = 0.03
    buy_baseline: float = 0.0006  # of all customers, per day
    unfollow_share: float = 0.0002  # of live follows, per day


@dataclass
class _Rows:
    send_tasks: list = field(default_factory=list)
    deliveries: list = field(default_factory=list)
    links: list = field(default_factory=list)
    clicks: list = field(default_factory=list)
    tasks: list = field(default_factory=list)
    chats: list = field(default_factory=list)
    purchases: list = field(default_factory=list)
    enrolments: list = field(default_factory=list)
    step_runs: list = field(default_factory=list)
    behavior: list = field(default_factory=list)
    unfollows: list = field(default_factory=list)
    until: date | None = None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _local(day: date, hours: float) -> datetime:
    start = services.day_bounds(day)[0]
    return start + timedelta(hours=hours)


class _Writer:
    """Bulk rows into a table: COPY on PostgreSQL, executemany on SQLite (datetimes as Django stores them)."""

    def __init__(self):
        self.postgres = connection.vendor == "postgresql"

    def _value(self, value):
        if isinstance(value, datetime) and not self.postgres:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
        if isinstance(value, date) and not isinstance(value, datetime) and not self.postgres:
            return value.isoformat()
        return value

    def write(self, model, columns: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                for start in range(0, len(rows), 5000):
                    cursor.executemany(sql, [tuple(map(self._value, row)) for row in rows[start : start + 5000]])

    def next_ids(self, model, count: int) -> list[int]:
        """`count` fresh primary keys of `model` (the rows are then written with explicit ids)."""
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if self.postgres:
                cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                               [table, count])  # fmt: skip
                return [row[0] for row in cursor.fetchall()]
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - our own table name
            first = cursor.fetchone()[0] + 1
            return list(range(first, first + count))


@dataclass
class _Campaign:
    version_id: int
    playbook_id: int
    content_version_id: int
    steps: list[str]  # the send steps
    # The A/B split, when the playbook has one: (arm, its send step, weight) and the control group's percent.
    arms: list[tuple[str, str, int]] = field(default_factory=list)
    control: int = 0

    def draw(self, rng) -> tuple[str, str | None]:
        """("arm:A", its step) or ("control", None) for one customer, by the split's weights."""
        roll = rng.uniform(0, 100)
        if roll < self.control:
            return "control", None
        roll -= self.control
        for name, step, weight in self.arms:
            if roll < weight:
                return f"arm:{name}", step
            roll -= weight
        name, step, _weight = self.arms[-1]
        return f"arm:{name}", step


def _campaigns() -> list[_Campaign]:
    """The send steps of the published starter playbooks, with their A/B splits."""
    approved = dict(
        ContentVersion.objects.filter(status=ContentVersion.Status.APPROVED)
        .order_by("item_id", "number")
        .values_list("item_id", "pk")
    )
    found = []
    for playbook in Playbook.objects.filter(live_version__isnull=False).select_related("live_version"):
        version = playbook.live_version
        sends = [s["key"] for s in version.steps if s.get("type") == "send" and s.get("content_item") in approved]
        if not sends:
            continue
        first = next(s for s in version.steps if s["key"] == sends[0])
        campaign = _Campaign(version.pk, playbook.pk, approved[first["content_item"]], sends)
        split = next((s for s in version.steps if s.get("type") == "ab_split" and s.get("control")), None)
        if split is not None:
            campaign.control = int(split["control"])
            campaign.arms = [
                (arm["name"], sends[min(index, len(sends) - 1)], int(arm["weight"]))
                for index, arm in enumerate(split["arms"])
            ]
        found.append(campaign)
    return found


def seed_history(
    *,
    days: int = HISTORY_DAYS,
    seed: int = 2026,
    today: date | None = None,
    volumes: Volumes | None = None,
    compute: bool = True,
    log=_log,
) -> dict:
    """Generate `days` of history up to yesterday, attribute its purchases and compute its facts (unless
    `compute` is False: the benchmark times that itself)."""
    started = time.monotonic()
    volumes = volumes or Volumes()
    today = today or timezone.localdate()
    first = today - timedelta(days=days)
    rng = random.Random(seed)  # noqa: S311 - made-up demo data, not security
    campaigns = _campaigns()
    products = list(Product.objects.values_list("pk", flat=True))
    if not campaigns or not products:
        return {"skipped": "no published playbook or no product to make history with"}
    writer = _Writer()
    counts: dict = defaultdict(int)
    for rows in _generate(rng, volumes, campaigns, products, first=first, today=today):
        for name, value in _write(writer, rows).items():
            counts[name] += value
        log(f"  history up to {rows.until}: {dict(counts)} ({time.monotonic() - started:.1f}s)")
    counts = dict(counts)
    with transaction.atomic():  # one commit, not one per day (SQLite syncs the file at each)
        counts["payroll_credits"] = _payroll_credits(rng, first, today)
        counts["effective_backdated"] = _backdate_effective_tag(first)
        attributed = attribution.attribute_days(first, today - timedelta(days=1))
        facts = services.compute_range(first, today - timedelta(days=1)) if compute else 0
    if compute:
        counts["uplifts_measured"] = services.refresh_playbook_uplifts()
    seconds = round(time.monotonic() - started, 1)
    log(f"  attributed {attributed} purchases, {facts} operator days computed ({seconds}s)")
    return counts | {"attributed": attributed, "operator_days": facts, "seconds": seconds}


def _generate(rng, volumes: Volumes, campaigns, products, *, first: date, today: date, chunk_days: int = 10):
    """The rows of `chunk_days` days at a time (a million-customer bank's 90 days do not fit in memory at once)."""
    now = timezone.now()
    out = _Rows()
    followers: dict[int, list[int]] = defaultdict(list)
    live_follows: list[int] = []
    for pk, operator_id, customer_id in FollowRelationship.objects.filter(deleted_at__isnull=True).values_list(
        "pk", "operator_id", "customer_id"
    ):
        followers[operator_id].append(customer_id)
        live_follows.append(pk)
    customers = sorted({c for cs in followers.values() for c in cs})
    operators = list(Operator.objects.values_list("pk", "status", "resigned_at", "wecom_userid"))
    entries: dict[tuple, int] = defaultdict(int)
    task_serial = itertools.count(1)
    purchase_serial = itertools.count(1)
    unfollowed: set[int] = set()

    def buy(customer_id: int, at: datetime) -> None:
        if at < now:
            amount = max(1000, round(rng.lognormvariate(10.3, 0.9), -2))
            out.purchases.append((customer_id, rng.choice(products), amount, at, next(purchase_serial)))

    day = first
    while day < today:
        working = day.weekday() < 5
        end = services.day_bounds(day)[1]
        for operator_id, status, resigned_at, userid in operators:
            if status != Operator.Status.ACTIVE and (resigned_at is None or resigned_at < end):
                continue
            mine = followers.get(operator_id)
            if userid:
                figures = day_figures(userid, day.isoformat())
                chats, replied = figures["chat_cnt"], figures["replied"]
                out.behavior.append((
                    day, operator_id, chats, figures["message_cnt"],
                    round(100 * replied / chats, 2) if chats else None,
                    figures["reply_minutes"] if replied else None,
                    figures["negative_feedback_cnt"], figures["new_apply_cnt"], figures["new_contact_cnt"], now,
                ))  # fmt: skip
            if not mine:
                continue
            if working and rng.random() < volumes.send_days:
                _mass_send(rng, volumes, out, rng.choice(campaigns), operator_id, mine, day, entries, buy)
            for _ in range(rng.randint(*volumes.tasks_per_day) if working else 0):
                _task(rng, volumes, out, operator_id, rng.choice(mine), day, next(task_serial), now, buy)
            for _ in range(rng.randint(*volumes.chats_per_day)):
                customer_id = rng.choice(mine)
                at = _local(day, rng.uniform(8.5, 21))
                if at < now:
                    out.chats.append((customer_id, operator_id, "您好，有需要随时联系我。", at))
                    if rng.random() < volumes.buy_after_chat:
                        buy(customer_id, at + timedelta(hours=rng.uniform(1, 120)))
        for _ in range(_poisson(rng, len(customers) * volumes.buy_baseline)):
            buy(rng.choice(customers), _local(day, rng.uniform(8, 22)))
        for _ in range(_poisson(rng, len(live_follows) * volumes.unfollow_share)):
            follow_id = rng.choice(live_follows)
            if follow_id not in unfollowed:
                unfollowed.add(follow_id)
                by = DELETED_BY_CUSTOMER if rng.random() < 0.7 else DELETED_BY_OPERATOR
                out.unfollows.append((follow_id, _local(day, rng.uniform(8, 23)), by))
        day += timedelta(days=1)
        if (day - first).days % chunk_days == 0 or day >= today:
            out.until = day - timedelta(days=1)
            yield out
            out = _Rows()


def _poisson(rng, mean: float) -> int:
    """A Poisson draw (Knuth for small means, the normal approximation above 30)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _mass_send(rng, volumes, out, campaign, operator_id, mine, day, entries, buy) -> None:
    share = rng.uniform(*volumes.send_share)
    size = min(volumes.send_cap, max(1, int(len(mine) * share)))
    submitted = _local(day, rng.uniform(9.5, 11.5))
    recipients = []
    for customer_id in rng.sample(mine, min(size, len(mine))):
        # A customer goes through a playbook again and again (cool-downs): each entry sends its own delivery.
        entries[(campaign.playbook_id, customer_id)] += 1
        entry = entries[(campaign.playbook_id, customer_id)]
        step = campaign.steps[0]
        if campaign.arms:
            outcome, step = campaign.draw(rng)
            out.enrolments.append((campaign, customer_id, entry, day, submitted, outcome))
            if step is None:
                continue
        recipients.append((customer_id, step if entry == 1 else f"{step}#{entry}"))
    if not recipients:
        return
    confirmed = None
    if rng.random() < volumes.confirm_share:
        delay = rng.expovariate(1 / 25) if rng.random() < 0.9 else rng.uniform(180, 480)
        confirmed = min(submitted + timedelta(minutes=delay), services.day_bounds(day)[1] - timedelta(minutes=1))
    sent = []  # (customer, step, delivered at — None when WeCom could not deliver or nobody confirmed)
    for customer_id, step_key in recipients:
        result = None
        if confirmed is not None and rng.random() < volumes.delivered_share:
            result = confirmed + timedelta(minutes=rng.uniform(2, 30))
            if rng.random() < volumes.click_share:
                out.clicks.append((len(out.send_tasks), result + timedelta(hours=rng.expovariate(1 / 3))))
            if rng.random() < volumes.buy_after_delivery:
                buy(customer_id, result + timedelta(hours=rng.uniform(1, 144)))
        sent.append((customer_id, step_key, result))
    out.send_tasks.append((campaign, operator_id, sent, submitted, confirmed, day))


def _task(rng, volumes, out, operator_id, customer_id, day, serial, now, buy) -> None:
    due = _local(day, rng.uniform(12, 18))
    if due > now:
        return
    roll = rng.random()
    if roll < 0.68:
        status, done = OperatorTask.Status.DONE, due - timedelta(hours=rng.uniform(0.2, 4))
    elif roll < 0.83:
        status, done = OperatorTask.Status.DONE, due + timedelta(hours=rng.uniform(0.5, 30))
    elif roll < 0.95:
        status, done = OperatorTask.Status.OPEN, None
    else:
        status, done = OperatorTask.Status.CANCELLED, None
    if status == OperatorTask.Status.OPEN and due < now - timedelta(days=7):
        # Left alone for a week, a task is done late in the end: the to-do list keeps only the recent ones.
        status, done = OperatorTask.Status.DONE, due + timedelta(hours=rng.uniform(30, 160))
    if done is not None and done > now:
        status, done = OperatorTask.Status.OPEN, None
    kind = rng.choice([OperatorTask.Kind.CALL, OperatorTask.Kind.MESSAGE, OperatorTask.Kind.MESSAGE])
    out.tasks.append((customer_id, operator_id, kind, due, status, done, serial))
    if done is not None and rng.random() < volumes.buy_after_task:
        buy(customer_id, done + timedelta(hours=rng.uniform(1, 120)))


def _write(writer: _Writer, rows: _Rows) -> dict:
    """Every generated row, parents first; ids of send tasks, links and enrolments are taken up front."""
    now = timezone.now()
    with transaction.atomic():
        task_ids = writer.next_ids(SendTask, len(rows.send_tasks))
        send_rows, delivery_rows, link_rows = [], [], []
        for task_id, (campaign, operator_id, recipients, submitted, confirmed, day) in zip(
            task_ids, rows.send_tasks, strict=True
        ):
            done = confirmed is not None
            delivered = 0
            for customer_id, step_key, delivered_at in recipients:
                if delivered_at is not None:
                    status, result, reason = Delivery.Status.DELIVERED, delivered_at, ""
                elif done:
                    status, result, reason = Delivery.Status.FAILED, confirmed, "not_friend"
                else:
                    status, result, reason = Delivery.Status.CANCELLED, services.day_bounds(day)[1], "not_confirmed"
                delivered += status == Delivery.Status.DELIVERED
                delivery_rows.append(("playbook", campaign.version_id, step_key, customer_id, operator_id,
                                      campaign.content_version_id, 5, status, reason, submitted, task_id, result,
                                      submitted))  # fmt: skip
            finished = confirmed + timedelta(minutes=40) if done else services.day_bounds(day)[1]
            send_rows.append((task_id, "playbook", campaign.version_id, recipients[0][1].split("#")[0], operator_id,
                              campaign.content_version_id, len(recipients), delivered,
                              SendTask.Status.DONE if done else SendTask.Status.CANCELLED, secrets.token_hex(8), 1,
                              submitted, submitted, submitted, "", "[]", "{}", submitted, confirmed,
                              services.day_bounds(day)[1], "[]", submitted, finished, False,
                              "" if done else "not_confirmed"))  # fmt: skip
            if done:
                link_rows.append((task_id, operator_id, campaign.content_version_id, submitted))
        writer.write(SendTask, ["id", "source_kind", "source_id", "step_key", "sender_id", "content_version_id",
                                "recipients", "accepted", "status", "marker", "attempts", "next_attempt_at",
                                "first_called_at", "last_called_at", "claim_token", "fail_list", "payload",
                                "submitted_at", "confirmed_at", "deadline_at", "reminders", "created_at",
                                "finished_at", "adopted", "error"], send_rows)  # fmt: skip
        writer.write(Delivery, ["source_kind", "source_id", "step_key", "customer_id", "sender_id",
                                "content_version_id", "priority", "status", "reason", "due_at", "send_task_id",
                                "result_at", "created_at"], delivery_rows)  # fmt: skip
        link_ids = writer.next_ids(TrackedLink, len(link_rows))
        link_of_task = {}
        tracked = []
        for link_id, (task_id, operator_id, version_id, at) in zip(link_ids, link_rows, strict=True):
            link_of_task[task_id] = link_id
            token = secrets.token_urlsafe(12)
            tracked.append((link_id, token, f"demo-{token}", "https://bank.example/wealth", version_id, operator_id,
                            "", "playbook", task_id, at))  # fmt: skip
        writer.write(TrackedLink, ["id", "token", "key", "url", "version_id", "sender_id", "external_userid",
                                   "context", "context_id", "created_at"], tracked)  # fmt: skip
        clicks = [
            (link_of_task[task_ids[index]], at, "", "", "", True, secrets.token_hex(16))
            for index, at in rows.clicks
            if task_ids[index] in link_of_task and at < now
        ]
        writer.write(LinkClick, ["link_id", "clicked_at", "identified_by", "external_userid", "openid", "in_wechat",
                                 "visitor"], clicks)  # fmt: skip
        writer.write(OperatorTask, ["customer_id", "operator_id", "kind", "title", "script", "due_at",
                                    "original_due_at", "status", "outcome", "outcome_note", "done_at",
                                    "postponed_count", "reminders_sent", "source_kind", "source_id", "step_key",
                                    "created_at"],
                     [(c, o, k, "客户回访" if k == "call" else "一对一跟进", "", due, due, status,
                       "reached" if done else "", "", done, 0, 0, "demo", serial, "history",
                       due - timedelta(days=1)) for c, o, k, due, status, done, serial in rows.tasks])  # fmt: skip
        writer.write(ChatMessage, ["customer_id", "operator_id", "text", "sent_at"], rows.chats)
        writer.write(ProductPurchase, ["customer_id", "product_id", "amount", "purchased_at", "reference", "channel",
                                       "created_at"],
                     [(c, p, a, at, f"DEMO-{n:09d}", "手机银行", at) for c, p, a, at, n in rows.purchases])  # fmt: skip
        _write_enrolments(writer, rows.enrolments)
        writer.write(BehaviorDay, ["day", "operator_id", "chat_cnt", "message_cnt", "reply_percentage",
                                   "avg_reply_time", "negative_feedback_cnt", "new_apply_cnt", "new_contact_cnt",
                                   "fetched_at"], rows.behavior)  # fmt: skip
        _write_unfollows(writer, rows.unfollows)
    return {
        "send_tasks": len(send_rows),
        "deliveries": len(delivery_rows),
        "clicks": len(clicks),
        "operator_tasks": len(rows.tasks),
        "chat_messages": len(rows.chats),
        "purchases": len(rows.purchases),
        "enrolments": len(rows.enrolments),
        "behavior_days": len(rows.behavior),
        "unfollows": len(rows.unfollows),
    }


def _write_enrolments(writer: _Writer, enrolments: list) -> None:
    ids = writer.next_ids(Enrolment, len(enrolments))
    rows, runs = [], []
    for pk, (campaign, customer_id, entry, day, at, outcome) in zip(ids, enrolments, strict=True):
        arm = "control" if outcome == "control" else outcome.removeprefix("arm:")
        reason = Enrolment.Reason.CONTROL if outcome == "control" else ""
        rows.append((pk, campaign.playbook_id, campaign.version_id, customer_id, entry, f"demo:{day}:{entry}",
                     Enrolment.State.COMPLETED, "", arm, at, at + timedelta(days=4), reason))  # fmt: skip
        runs.append((campaign.version_id, "s1", customer_id, entry, pk, outcome, at))
    writer.write(Enrolment, ["id", "playbook_id", "version_id", "customer_id", "entry", "trigger_key", "state",
                             "step", "arm", "entered_at", "finished_at", "exit_reason"], rows)  # fmt: skip
    writer.write(StepRun, ["version_id", "step_key", "customer_id", "entry", "enrolment_id", "outcome", "at"], runs)


def _write_unfollows(writer: _Writer, unfollows: list) -> None:
    table = FollowRelationship._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET deleted_at = %s, deleted_by = %s WHERE id = %s AND deleted_at IS NULL",  # noqa: S608
            [(writer._value(at), by, pk) for pk, at, by in unfollows],
        )


def seed_history_for_demo(*, customers: int, seed: int, log=_log) -> dict:
    """`seed_demo`'s call: the history for a demo-sized bank; a benchmark-sized one makes its own."""
    if customers > DEMO_MAX_CUSTOMERS:
        return {"skipped": f"more than {DEMO_MAX_CUSTOMERS:,} customers: python -m bench supervision makes history"}
    return seed_history(seed=seed, log=log)


# Monthly salary or pension by occupation group (yuan): what the bank's payroll file would credit.
SALARY = {
    OccupationGroup.WHITE_COLLAR: (8_000, 25_000),
    OccupationGroup.INDUSTRIAL_WORKER: (4_500, 9_000),
    OccupationGroup.RETIREE: (2_800, 6_500),
}


def _payroll_credits(rng, first: date, today: date) -> int:
    """Every payroll customer's salary (pension for retirees) on their pay day of each month up to today, as the
    bank's payroll import would have written it: the home page's "salary arrived" and the customer's timeline."""
    payees = Customer.objects.exclude(payroll_employer="").filter(payday__isnull=False).order_by("pk")
    credits = []
    columns = ("pk", "payroll_employer", "payday", "occupation_group")
    for customer_id, employer, payday, group in payees.values_list(*columns):
        low, high = SALARY.get(group, (5_000, 12_000))
        salary = rng.uniform(low, high)
        day = first
        while day <= today:
            month_end = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            if day.day == min(payday, month_end.day):
                amount = round(salary * rng.uniform(0.95, 1.08), 2)
                credits.append(
                    PayrollCredit(customer_id=customer_id, employer=employer, amount=amount, credit_date=day)
                )
            day += timedelta(days=1)
    PayrollCredit.objects.bulk_create(credits, batch_size=5_000, ignore_conflicts=True)
    return len(credits)


def _backdate_effective_tag(first: date) -> int:
    """The starter rules tagged 有效客户 just now; in the story most customers were effective before the period
    and the rest became so during it, spread evenly (a steady rise of the effective ratio on the dashboards)."""
    tag = services.effective_tag_id()
    if tag is None:
        return 0
    table = CustomerTag._meta.db_table
    start = connection.ops.adapt_datetimefield_value(services.day_bounds(first)[0])
    offset = "((CAST(customer_id AS BIGINT) * 7919) %% 300 - 210)"  # days from the period's start: 70 % before it
    if connection.vendor == "postgresql":
        value = f"%s::timestamptz + {offset} * INTERVAL '1 day' + INTERVAL '10 hours'"
    else:
        value = f"datetime(%s, {offset} || ' days', '+10 hours')"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET added_at = {value} WHERE tag_id = %s AND added_at >= %s",  # noqa: S608
            [start, tag, start],
        )
        return cursor.rowcount
