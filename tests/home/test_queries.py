"""The operator's home page costs the same number of queries for 20 customers or 2,000, and lists stay short."""

import datetime as dt
from decimal import Decimal

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.delivery.models import OperatorTask
from integrations.bank.models import PayrollCredit
from tagging.models import Customer, FollowRelationship, Product, ProductHolding
from tests.delivery.support import add_customers
from tests.home.support import LONG_AGO, NOW, TODAY, at, build_day
from workbench.web.today import ROWS

HOME_MAX_QUERIES = 30


def _count(client) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("home"))
    assert response.status_code == 200
    return len(queries), response


def _grow(bank, n: int) -> None:
    """n more customers for operator_a, old contacts, each section getting more rows than it shows."""
    operator = bank.operators["operator_a"]
    customers = add_customers(operator, n)
    FollowRelationship.objects.filter(customer__in=customers).update(added_at=LONG_AGO)
    ids = [customer.pk for customer in customers]
    FollowRelationship.objects.filter(customer_id__in=ids[:30]).update(added_at=at(0, 7))
    Customer.objects.filter(pk__in=ids[30:60]).update(birth_date=dt.date(1985, 5, 13))
    PayrollCredit.objects.bulk_create(
        [
            PayrollCredit(customer_id=pk, employer="杭州海康", amount=Decimal("5000"), credit_date=TODAY)
            for pk in ids[60:90]
        ]
    )
    product, _ = Product.objects.get_or_create(code="WM-Q", defaults={"name": "季度理财", "category": "wealth"})
    ProductHolding.objects.bulk_create(
        [
            ProductHolding(
                customer_id=pk,
                product=product,
                opened_on=dt.date(2026, 2, 1),
                maturity_date=TODAY + dt.timedelta(days=2),
            )
            for pk in ids[90:120]
        ]
    )
    OperatorTask.objects.bulk_create(
        [
            OperatorTask(
                customer_id=pk,
                operator=operator,
                kind="call",
                title=f"批量任务{pk}",
                due_at=at(0, 16),
                original_due_at=at(0, 16),
                source_kind="bulk",
                source_id=1,
                step_key="call",
            )
            for pk in ids[120:160]
        ]
    )


def test_home_queries_do_not_grow_with_the_operators_customers(bank, login):
    with time_machine.travel(NOW, tick=False):
        build_day(bank)
        client = login("operator_a")
        client.get(reverse("home"))  # warm the session and the cached summary
        empty, _ = _count(client)
        _grow(bank, 200)  # every section now has more rows than it shows: each adds its one COUNT
        few, _ = _count(client)
        _grow(bank, 1800)
        many, response = _count(client)
    today = response.context["today"]
    assert empty <= few <= empty + 6
    assert many == few <= HOME_MAX_QUERIES, (few, many)
    assert today.new_today.count == 61 and len(today.new_today.rows) == ROWS
    assert today.birthdays.count == 62 and len(today.birthdays.rows) == ROWS
    assert today.salary.count == 61 and len(today.salary.rows) == ROWS
    assert today.maturing.count == 61 and len(today.maturing.rows) == ROWS
    assert today.tasks.count == 82 and len(today.tasks.rows) == 20
    assert today.silent.count > 1800 and len(today.silent.rows) == ROWS
