"""Daily facts against a small bank whose every figure is counted by hand (day D = 2026-10-05, China time)."""

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from tagging.models import CustomerTag, FollowRelationship, Tag, TagGroup, TagSource
from tests.factories import CustomerFactory, FollowFactory
from tests.supervision.support import chat, click, content_version, link, local, operator_task, purchase, send_task
from workbench.supervision import attribution, services
from workbench.supervision.models import BehaviorDay, OperatorDay

D = dt.date(2026, 10, 5)
CUSTOMER, OPERATOR = FollowRelationship.DeletedBy.CUSTOMER, FollowRelationship.DeletedBy.OPERATOR


def _follow(customer, operator, added, deleted=None, by=""):
    return FollowFactory(customer=customer, operator=operator, added_at=added, deleted_at=deleted, deleted_by=by)


def _tag(customer, tag, at):
    made = CustomerTag.objects.create(customer=customer, tag=tag, source=TagSource.RULE)
    CustomerTag.objects.filter(pk=made.pk).update(added_at=at)


@pytest.fixture
def day_bank(bank):
    op, op2 = bank.operators["operator_a"], bank.operators["operator_a2"]
    c = {n: CustomerFactory(owner=op, name=f"事实客户{n}") for n in range(1, 8)}
    _follow(c[1], op, local(2026, 9, 1, 10))  # owned
    _follow(c[2], op, local(2026, 10, 5, 10))  # owned, new
    _follow(c[3], op, local(2026, 9, 1, 10), local(2026, 10, 5, 12), CUSTOMER)  # lost by customer
    _follow(c[4], op, local(2026, 9, 1, 10), local(2026, 10, 5, 13), OPERATOR)  # lost by operator
    _follow(c[5], op, local(2026, 9, 1, 10), local(2026, 10, 6, 9), CUSTOMER)  # owned on D, lost on D+1
    _follow(c[6], op, local(2026, 10, 6, 0))  # tomorrow's: not on D
    _follow(c[7], op, local(2026, 10, 4, 23, 59, 59))  # the second before D: owned, not new
    effective = Tag.objects.create(group=TagGroup.objects.create(name="有效客户"), name="有效客户")
    _tag(c[1], effective, local(2026, 9, 20))  # effective on D
    _tag(c[2], effective, local(2026, 10, 7))  # tagged after D: not yet
    _tag(c[3], effective, local(2026, 9, 20))  # tagged, but no longer followed at the end of D

    operator_task(op, c[1], due_at=local(2026, 10, 5, 10), done_at=local(2026, 10, 5, 9))  # due, done on time
    operator_task(op, c[1], due_at=local(2026, 10, 5, 11), done_at=local(2026, 10, 5, 15))  # due, done late
    operator_task(op, c[2], due_at=local(2026, 10, 5, 12))  # due, still open: overdue
    operator_task(op, c[2], due_at=local(2026, 10, 4, 10), done_at=local(2026, 10, 5, 8))  # done on D, late
    operator_task(op, c[5], due_at=local(2026, 10, 5, 14), status="cancelled")  # not counted
    operator_task(op, c[5], due_at=local(2026, 10, 6, 10), done_at=local(2026, 10, 5, 16))  # done early

    version = content_version(bank)
    send_task(op, version, submitted_at=local(2026, 10, 5, 9), confirmed_at=local(2026, 10, 5, 9, 10),
              delivered=[c[1], c[2], c[5]], failed=[c[7]])  # fmt: skip
    send_task(op, version, submitted_at=local(2026, 10, 5, 10), confirmed_at=local(2026, 10, 5, 11),
              delivered=[c[1], c[7]])  # fmt: skip
    send_task(op, version, submitted_at=local(2026, 10, 5, 20))  # received, not confirmed
    send_task(op, version, submitted_at=local(2026, 10, 4, 22), confirmed_at=local(2026, 10, 5, 8),
              delivered=[c[2]])  # fmt: skip

    chat(op, c[1], at=local(2026, 10, 5, 10))
    chat(op, c[7], at=local(2026, 10, 5, 18))
    chat(op, c[7], at=local(2026, 10, 6, 9))  # tomorrow
    mine, theirs, nobodys = link(op), link(op2), link(None)
    for minute in (1, 2, 3):
        click(mine, at=local(2026, 10, 5, 12, minute))
    click(mine, at=local(2026, 10, 4, 12))
    click(theirs, at=local(2026, 10, 5, 12))
    click(nobodys, at=local(2026, 10, 5, 12))

    purchase(c[1], at=local(2026, 10, 5, 16), amount="10000.00")  # after the chat at 10:00: op's
    purchase(c[6], at=local(2026, 10, 5, 17), amount="5000.00")  # no touch: nobody's
    purchase(c[1], at=local(2026, 10, 6, 16), amount="7000.00")  # D+1
    attribution.attribute_days(dt.date(2026, 10, 1), dt.date(2026, 10, 10))

    BehaviorDay.objects.create(operator=op, day=D, chat_cnt=10, message_cnt=40, reply_percentage=Decimal("80"),
                               avg_reply_time=Decimal("4"), negative_feedback_cnt=1)  # fmt: skip
    BehaviorDay.objects.create(operator=op2, day=D, chat_cnt=5, message_cnt=9, reply_percentage=Decimal("100"),
                               avg_reply_time=Decimal("7"))  # fmt: skip
    return bank


EXPECTED_OPERATOR_A = {
    "customers_owned": 4,  # c1, c2, c5, c7
    "customers_new": 1,  # c2
    "lost_by_customer": 1,  # c3
    "lost_by_operator": 1,  # c4
    "effective_customers": 1,  # c1
    "tasks_due": 3,
    "tasks_done": 4,
    "tasks_on_time": 2,
    "tasks_overdue": 2,
    "mass_tasks_received": 3,
    "mass_tasks_confirmed": 3,
    "confirm_delay_seconds": 600 + 3600 + 36000,
    "deliveries": 6,
    "chat_messages": 2,
    "clicks": 3,
    "conversions": 1,
    "conversion_amount": Decimal("10000.00"),
    "chats": 10,
    "messages": 40,
    "reply_percentage": Decimal("80.00"),
    "avg_reply_minutes": Decimal("4.00"),
    "negative_feedback": 1,
    "conversations_started": 10,
    "replied_within_5min": 8,  # 10 chats × 80 % answered, on a day averaging 4 minutes
}


def _row(operator, day=D) -> dict:
    row = OperatorDay.objects.get(operator=operator, day=day)
    return {name: getattr(row, name) for name in services.FIGURES}


def test_every_figure_of_an_operator_day(day_bank):
    services.compute_day(D)
    assert _row(day_bank.operators["operator_a"]) == EXPECTED_OPERATOR_A


def test_operators_without_activity_get_zero_rows_and_their_branch(day_bank):
    services.compute_day(D)
    op2 = day_bank.operators["operator_a2"]
    row = _row(op2)
    assert row["clicks"] == 1 and row["chats"] == 5 and row["conversations_started"] == 5
    assert row["replied_within_5min"] == 0  # answered all, but averaging 7 minutes
    assert row["customers_owned"] == 0 and row["conversion_amount"] == 0
    stored = OperatorDay.objects.get(operator=op2, day=D)
    assert stored.branch_id == op2.branch_id and stored.branch_path == op2.branch.path
    empty = _row(day_bank.operators["operator_b"])
    assert set(empty.values()) <= {0, None}
    # Every operator of the bank was active on D (the one who resigned did so today): one row each.
    assert OperatorDay.objects.filter(day=D).count() == len(day_bank.operators)


def test_resigned_operators_keep_their_past_days_but_get_no_new_ones(day_bank):
    resigned = day_bank.operators["resigned"]
    services.compute_day(D)
    assert OperatorDay.objects.filter(operator=resigned, day=D).exists()
    later = resigned.resigned_at.date() + dt.timedelta(days=2)
    services.compute_day(later)
    assert not OperatorDay.objects.filter(operator=resigned, day=later).exists()
    assert OperatorDay.objects.filter(operator=day_bank.operators["operator_a"], day=later).exists()


def test_computing_twice_writes_the_same_rows(day_bank):
    services.compute_day(D)
    first = {row.operator_id: _row(row.operator) for row in OperatorDay.objects.filter(day=D)}
    count = OperatorDay.objects.count()
    services.compute_day(D)
    assert OperatorDay.objects.count() == count
    assert {row.operator_id: _row(row.operator) for row in OperatorDay.objects.filter(day=D)} == first


def test_recomputing_a_past_range_picks_up_late_rows(day_bank):
    op = day_bank.operators["operator_a"]
    services.compute_range(D - dt.timedelta(days=1), D + dt.timedelta(days=1))
    assert OperatorDay.objects.filter(operator=op).count() == 3
    assert _row(op, D + dt.timedelta(days=1))["conversions"] == 1  # the D+1 purchase, after the chat on D
    assert _row(op, D - dt.timedelta(days=1))["clicks"] == 1
    chat(op, day_bank.customers["a_own"], at=local(2026, 10, 5, 20))  # arrives late
    services.compute_range(D - dt.timedelta(days=1), D + dt.timedelta(days=1))
    assert _row(op)["chat_messages"] == 3
    assert OperatorDay.objects.filter(operator=op).count() == 3


def test_without_the_effective_tag_the_figure_is_zero(day_bank):
    Tag.objects.filter(name="有效客户").delete()
    services.compute_day(D)
    assert _row(day_bank.operators["operator_a"])["effective_customers"] == 0


def test_the_effective_tag_is_a_setting(day_bank, settings):
    other = Tag.objects.create(group=TagGroup.objects.create(name="考核"), name="有效户")
    _tag(day_bank.customers["a_own"], other, local(2026, 9, 1))
    FollowFactory(customer=day_bank.customers["a_own"], operator=day_bank.operators["operator_b"],
                  added_at=local(2026, 9, 1))  # fmt: skip
    settings.SUPERVISION_EFFECTIVE_TAG = "考核/有效户"
    services.compute_day(D)
    assert _row(day_bank.operators["operator_a"])["effective_customers"] == 0
    assert _row(day_bank.operators["operator_b"])["effective_customers"] == 1


def test_closed_days_to_compute_skips_computed_days_but_always_refreshes_yesterday(db):
    today = dt.date(2026, 10, 10)
    assert services.closed_days_to_compute(today=today, max_days_back=3) == [
        dt.date(2026, 10, 7),
        dt.date(2026, 10, 8),
        dt.date(2026, 10, 9),
    ]


def test_closed_days_after_a_compute(day_bank):
    services.compute_range(dt.date(2026, 10, 7), dt.date(2026, 10, 9))
    today = dt.date(2026, 10, 10)
    assert services.closed_days_to_compute(today=today, max_days_back=4) == [dt.date(2026, 10, 6), dt.date(2026, 10, 9)]


def test_compute_facts_command_prints_json_totals(day_bank):
    out = StringIO()
    call_command("compute_facts", "--from", "2026-10-05", "--to", "2026-10-05", "--attribute", stdout=out)
    totals = json.loads(out.getvalue())
    assert totals["rows"] == len(day_bank.operators)
    assert totals["purchases_attributed"] == 2
    assert totals["clicks"] == 4 and totals["deliveries"] == 6 and totals["conversions"] == 1
    assert totals["conversion_amount"] == 10000.0


def test_compute_facts_command_refuses_a_backwards_range(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("compute_facts", "--from", "2026-10-05", "--to", "2026-10-01")


def test_the_beat_run_attributes_new_purchases_and_computes_their_days(day_bank):
    op = day_bank.operators["operator_a"]
    customer = day_bank.customers["a_own"]
    chat(op, customer, at=local(2026, 10, 2, 9))
    purchase(customer, at=local(2026, 10, 3, 9), amount="800.00")  # imported late, for a day already closed
    days = services.compute_closed_days(today=dt.date(2026, 10, 8), max_days_back=5)
    assert days == [dt.date(2026, 10, 3), dt.date(2026, 10, 4), D, dt.date(2026, 10, 6), dt.date(2026, 10, 7)]
    row = _row(op, dt.date(2026, 10, 3))
    assert (row["conversions"], row["conversion_amount"]) == (1, Decimal("800.00"))
    assert _row(op) == EXPECTED_OPERATOR_A
    # Again: nothing new to attribute, only yesterday is refreshed.
    assert services.compute_closed_days(today=dt.date(2026, 10, 8), max_days_back=5) == [dt.date(2026, 10, 7)]
