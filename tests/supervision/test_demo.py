"""The demo history: generated through the real tables, then attributed and computed consistently."""

import datetime as dt

import pytest
from django.db.models import Sum
from django.utils import timezone

from campaigns.delivery.models import ChatMessage, Delivery, OperatorTask
from campaigns.playbooks.models import Enrolment, Playbook
from campaigns.playbooks.starter import seed_starter_playbooks
from integrations.bank.models import PayrollCredit, ProductPurchase
from tagging.models import Customer, Product
from tests.factories import CustomerFactory, FollowFactory
from workbench.supervision import demo, selectors
from workbench.supervision.models import Attribution, BehaviorDay, OperatorDay
from workbench.supervision.services import day_bounds

DAYS = 12


@pytest.fixture
def history(bank):
    long_ago = timezone.now() - dt.timedelta(days=400)
    for persona in ("operator_a", "operator_a2", "operator_b"):
        operator = bank.operators[persona]
        for n in range(40):
            customer = CustomerFactory(owner=operator, name=f"{persona}{n}")
            FollowFactory(customer=customer, operator=operator, added_at=long_ago)
    Product.objects.create(code="WM-090", name="90天理财", category="wealth")
    payday = timezone.localdate() - dt.timedelta(days=3)
    paid = Customer.objects.filter(owner=bank.operators["operator_a"]).order_by("pk")[:5]
    Customer.objects.filter(pk__in=[c.pk for c in paid]).update(
        payroll_employer="江南机械厂", payday=payday.day, occupation_group="industrial_worker"
    )
    seeded = seed_starter_playbooks()
    assert seeded["created"], seeded
    volumes = demo.Volumes(send_days=0.9, buy_after_delivery=0.2, buy_after_task=0.3, buy_after_chat=0.3)
    summary = demo.seed_history(days=DAYS, seed=7, volumes=volumes, log=lambda message: None)
    return bank, summary


def test_history_fills_every_table_and_the_facts_add_up(history):
    bank, summary = history
    today = timezone.localdate()
    first, last = today - dt.timedelta(days=DAYS), today - dt.timedelta(days=1)
    since, until = day_bounds(first)[0], day_bounds(last)[1]
    assert summary["deliveries"] > 0 and summary["operator_tasks"] > 0 and summary["purchases"] > 0
    assert BehaviorDay.objects.filter(day__gte=first).exists()
    active = sum(1 for op in bank.operators.values() if op.is_active) + 1  # the one who resigned today
    assert OperatorDay.objects.filter(day=last).count() == active
    assert set(OperatorDay.objects.values_list("day", flat=True).distinct()) == {
        first + dt.timedelta(days=n) for n in range(DAYS)
    }
    totals = OperatorDay.objects.aggregate(chats=Sum("chat_messages"), conversions=Sum("conversions"),
                                           deliveries=Sum("deliveries"), done=Sum("tasks_done"))  # fmt: skip
    assert totals["chats"] == ChatMessage.objects.filter(sent_at__gte=since, sent_at__lt=until).count()
    assert totals["deliveries"] == Delivery.objects.filter(status="delivered").count()
    assert totals["done"] == OperatorTask.objects.filter(status="done", done_at__lt=until).count()
    purchases = ProductPurchase.objects.filter(purchased_at__gte=since, purchased_at__lt=until).count()
    assert Attribution.objects.count() == purchases
    assert totals["conversions"] == Attribution.objects.filter(operator__isnull=False).count() > 0


def test_history_gives_the_payroll_playbook_a_control_group(history):
    payroll = Playbook.objects.get(starter_key="payroll_wealth")
    uplift = selectors.playbook_uplift(payroll)
    assert uplift["treated"] > 0 and uplift["control"] > 0
    assert uplift["treated"] + uplift["control"] == Enrolment.objects.filter(playbook=payroll).count()
    # The control group got no message: no delivery of the split's send steps for that entry.
    for customer_id, entry, version_id in Enrolment.objects.filter(playbook=payroll, arm="control").values_list(
        "customer_id", "entry", "version_id"
    ):
        keys = ["s2", "s3"] if entry == 1 else [f"s2#{entry}", f"s3#{entry}"]
        assert not Delivery.objects.filter(
            source_kind="playbook", source_id=version_id, customer_id=customer_id, step_key__in=keys
        ).exists()
    assert Delivery.objects.filter(source_kind="playbook", source_id=payroll.live_version_id).exists()


def test_history_credits_salaries_on_each_payroll_customers_pay_day(history):
    _bank, summary = history
    payday = timezone.localdate() - dt.timedelta(days=3)
    credits = list(PayrollCredit.objects.order_by("customer_id"))
    assert summary["payroll_credits"] == len(credits) == 5  # one pay day inside the 12 days, five payees
    assert {credit.credit_date for credit in credits} == {payday}
    assert all(credit.employer == "江南机械厂" and 4_000 <= credit.amount <= 10_000 for credit in credits)
