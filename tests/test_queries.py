"""Query counts on list pages do not grow with the number of rows shown."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import CustomerFactory, FollowFactory

WEB_LIST_MAX_QUERIES = 12
API_LIST_MAX_QUERIES = 6


def _count(request) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = request()
    assert response.status_code == 200, response.status_code
    return len(queries)


def _grow(bank, n: int) -> None:
    """n more customers for operator_a, each with a live follow (the timeline and owner columns get data)."""
    for customer in CustomerFactory.create_batch(n, owner=bank.operators["operator_a"]):
        FollowFactory(customer=customer, operator=bank.operators["operator_a"])


@pytest.mark.parametrize("persona", ["operator_a", "manager_a", "admin"])
@pytest.mark.parametrize("params", [{}, {"q": "顾客"}, {"branch": "outlet_a", "occupation_group": ""}])
def test_customer_list_page_queries_are_bounded(bank, login, django_assert_max_num_queries, persona, params):
    client = login(persona)
    params = {key: (getattr(bank, value).pk if key == "branch" else value) for key, value in params.items()}
    client.get(reverse("customers:list"))  # warm the session and per-process caches
    few = _count(lambda: client.get(reverse("customers:list"), params))
    _grow(bank, 60)
    with django_assert_max_num_queries(WEB_LIST_MAX_QUERIES):
        response = client.get(reverse("customers:list"), params)
    assert len(response.context["page"].rows) == 50  # a full page was really rendered
    assert _count(lambda: client.get(reverse("customers:list"), params)) == few


@pytest.mark.parametrize("persona", ["operator_a", "manager_a", "admin"])
def test_customer_api_list_queries_are_bounded(bank, api_as, django_assert_max_num_queries, persona):
    client = api_as(persona)
    url = reverse("api:customer-list")
    few = _count(lambda: client.get(url, {"owner": bank.operators["operator_a"].pk}))
    _grow(bank, 60)
    with django_assert_max_num_queries(API_LIST_MAX_QUERIES):
        response = client.get(url, {"owner": bank.operators["operator_a"].pk})
    assert len(response.json()["results"]) == 50
    assert _count(lambda: client.get(url, {"owner": bank.operators["operator_a"].pk})) == few


def test_customer_detail_page_queries_are_bounded(bank, login, django_assert_max_num_queries):
    customer = bank.customers["a_own"]
    client = login("manager_a")
    client.get(reverse("customers:detail", args=[customer.pk]))
    few = _count(lambda: client.get(reverse("customers:detail", args=[customer.pk])))
    for operator in ("operator_a2", "lead_a", "manager_a"):
        FollowFactory(customer=customer, operator=bank.operators[operator])
    assert _count(lambda: client.get(reverse("customers:detail", args=[customer.pk]))) == few
