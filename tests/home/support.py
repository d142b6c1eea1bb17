"""A hand-made day for the home page tests: 12 May 2026, 10:00 in China, seen by operator_a of the persona bank.

Every section of the operator's home gets items that must show and items that must not (another operator's, out of
scope, too late, already done), so a test can assert the exact set.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from campaigns.delivery.models import ChatMessage, OperatorTask, SendTask
from campaigns.delivery.services import create_operator_task
from integrations.bank.models import PayrollCredit
from tagging.models import FollowRelationship, Product, ProductHolding
from tests.campaigns_support import approved, seed_words
from tests.factories import CustomerFactory, FollowFactory

TZ = timezone.get_fixed_timezone(8 * 60)
NOW = dt.datetime(2026, 5, 12, 10, 0, tzinfo=TZ)
TODAY = NOW.date()
LONG_AGO = dt.datetime(2026, 3, 1, 9, 0, tzinfo=TZ)


def at(days: int = 0, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(TODAY + dt.timedelta(days=days), dt.time(hour, minute), tzinfo=TZ)


@dataclass
class Day:
    tasks: dict = field(default_factory=dict)
    sends: dict = field(default_factory=dict)
    customers: dict = field(default_factory=dict)


def make_task(bank, key, customer, *, due, kind="call", operator=None) -> OperatorTask:
    return create_operator_task(
        customer_id=bank.customers[customer].pk if isinstance(customer, str) else customer.pk,
        operator_id=bank.operators[operator].pk if operator else None,
        kind=kind,
        title=f"任务{key}",
        due_at=due,
        source_kind="homeprobe",
        source_id=1,
        step_key=key,
    )


def _send(bank, marker, sender, *, status, deadline, reminders=()) -> SendTask:
    version = approved(bank, title=f"群发{marker}", author="admin").current
    return SendTask.objects.create(
        source_kind="broadcast",
        source_id=900 + len(marker),
        step_key="send",
        sender=bank.operators[sender],
        content_version=version,
        recipients=40,
        accepted=37,
        status=status,
        marker=marker,
        msgid=f"msg{marker}",
        submitted_at=at(0, 9),
        deadline_at=deadline,
        reminders=[stamp.timestamp() for stamp in reminders],
    )


def build_day(bank) -> Day:
    """Call inside `time_machine.travel(NOW)`."""
    seed_words()
    day = Day()
    ops, customers = bank.operators, bank.customers
    FollowRelationship.objects.update(added_at=LONG_AGO)  # the persona bank's follows are old ones

    # Tasks.
    day.tasks["due"] = make_task(bank, "due", "a_own", due=at(0, 15))
    day.tasks["overdue"] = make_task(
        bank, "overdue", "a_followed", due=at(-1, 10), kind="message", operator="operator_a"
    )
    day.tasks["tomorrow"] = make_task(bank, "tomorrow", "a_own", due=at(1, 10))
    day.tasks["done"] = make_task(bank, "done", "b_shared", due=at(0, 8), operator="operator_a")
    OperatorTask.objects.filter(pk=day.tasks["done"].pk).update(status="done", done_at=at(0, 9))
    day.tasks["other"] = make_task(bank, "other", "a_unfollowed", due=at(0, 11))  # operator_a2's
    day.tasks["b"] = make_task(bank, "b", "b_own", due=at(0, 11))  # operator_b's
    OperatorTask.objects.filter(pk__in=[day.tasks["due"].pk, day.tasks["overdue"].pk]).update(
        last_reminded_at=at(0, 9, 45)
    )
    OperatorTask.objects.filter(pk=day.tasks["b"].pk).update(last_reminded_at=at(0, 9, 45))

    # Mass sends.
    day.sends["waiting"] = _send(
        bank, "wait01", "operator_a", status="submitted", deadline=at(0, 23, 59), reminders=[at(0, 9, 30), at(-1, 18)]
    )
    day.sends["done"] = _send(bank, "done0001", "operator_a", status="done", deadline=at(0, 23, 59))
    day.sends["b"] = _send(
        bank, "b000000001", "operator_b", status="submitted", deadline=at(0, 23, 59), reminders=[at(0, 9, 30)]
    )

    # New today: a new customer who added operator_a this morning; operator_b's new contact is not theirs.
    new = CustomerFactory(owner=ops["operator_a"], name="今日新客")
    FollowFactory(customer=new, operator=ops["operator_a"], added_at=at(0, 8, 30))
    FollowFactory(customer=customers["b_own"], operator=ops["operator_b"], added_at=at(0, 8))
    day.customers["new"] = new

    # Silent: a_own has had nothing; a_followed got a 1:1 message, b_shared transacted; "recent" added 10 days ago.
    ChatMessage.objects.create(
        customer=customers["a_followed"], operator=ops["operator_a"], text="您好", sent_at=at(-5)
    )
    customers["b_shared"].last_transaction_date = TODAY - dt.timedelta(days=3)
    customers["b_shared"].save(update_fields=["last_transaction_date"])
    recent = CustomerFactory(owner=ops["operator_a"], name="近期新客")
    FollowFactory(customer=recent, operator=ops["operator_a"], added_at=at(-10))
    day.customers["recent"] = recent

    # Salary: today for one of operator_a's customers, three days ago for another; operator_b's customer today.
    salary = CustomerFactory(owner=ops["operator_a"], name="工资客户")
    PayrollCredit.objects.create(customer=salary, employer="杭州海康", amount=Decimal("8800.00"), credit_date=TODAY)
    PayrollCredit.objects.create(
        customer=customers["b_shared"],
        employer="杭州海康",
        amount=Decimal("7000.00"),
        credit_date=TODAY - dt.timedelta(days=3),
    )
    PayrollCredit.objects.create(
        customer=customers["b_own"], employer="宁波港", amount=Decimal("9000.00"), credit_date=TODAY
    )
    day.customers["salary"] = salary

    # Birthdays: today, on Saturday, and after the week; operator_b's customer today.
    day.customers["bday_today"] = CustomerFactory(
        owner=ops["operator_a"], name="寿星今天", birth_date=dt.date(1980, 5, 12)
    )
    day.customers["bday_sat"] = CustomerFactory(
        owner=ops["operator_a"], name="寿星周六", birth_date=dt.date(1975, 5, 16)
    )
    day.customers["bday_far"] = CustomerFactory(
        owner=ops["operator_a"], name="寿星下周", birth_date=dt.date(1990, 5, 20)
    )
    customers["b_own"].birth_date = dt.date(1960, 5, 12)
    customers["b_own"].save(update_fields=["birth_date"])

    # Maturing: within 7 days for a_own, in 13 days for a_followed, tomorrow for operator_b's customer.
    wealth = Product.objects.create(code="WM-H1", name="稳享理财", category="wealth")
    ProductHolding.objects.create(
        customer=customers["a_own"],
        product=wealth,
        amount=Decimal("50000"),
        opened_on=dt.date(2025, 11, 15),
        maturity_date=TODAY + dt.timedelta(days=3),
    )
    ProductHolding.objects.create(
        customer=customers["a_followed"],
        product=wealth,
        amount=Decimal("60000"),
        opened_on=dt.date(2025, 11, 15),
        maturity_date=TODAY + dt.timedelta(days=13),
    )
    ProductHolding.objects.create(
        customer=customers["b_own"],
        product=wealth,
        amount=Decimal("70000"),
        opened_on=dt.date(2025, 11, 15),
        maturity_date=TODAY + dt.timedelta(days=1),
    )
    return day
