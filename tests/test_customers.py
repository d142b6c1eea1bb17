"""Customer reads and writes: keyset paging, the timeline, owner changes, and the web list and page."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tagging.models import Customer, CustomerEvent, FollowRelationship
from tagging.selectors import customer_timeline, filtered_customers, keyset_page
from tagging.services import customer_set_owner
from tests.factories import CustomerFactory, FollowFactory
from workbench.org.scope import visible_customers

# --- selectors and services ----------------------------------------------------------------------------------


def test_keyset_paging_walks_forward_and_back(bank):
    CustomerFactory.create_batch(12, owner=bank.operators["operator_a"])
    queryset = visible_customers(bank.user("operator_a"))
    expected = list(queryset.order_by("-pk").values_list("pk", flat=True))
    assert len(expected) == 15

    pages, after = [], None
    while True:
        page = keyset_page(queryset, after=after, size=4)
        pages.append(page)
        if page.next_after is None:
            break
        after = page.next_after
    assert [customer.pk for page in pages for customer in page.rows] == expected
    assert [len(page.rows) for page in pages] == [4, 4, 4, 3]
    assert pages[0].prev_before is None
    assert all(page.prev_before == page.rows[0].pk for page in pages[1:])

    back = keyset_page(queryset, before=pages[2].prev_before, size=4)
    assert [c.pk for c in back.rows] == [c.pk for c in pages[1].rows]
    assert back.prev_before == pages[1].rows[0].pk  # there is still a page before it
    first = keyset_page(queryset, before=pages[1].prev_before, size=4)
    assert [c.pk for c in first.rows] == [c.pk for c in pages[0].rows]
    assert first.prev_before is None


def test_keyset_page_of_nothing(bank):
    page = keyset_page(Customer.objects.none())
    assert (page.rows, page.next_after, page.prev_before) == ([], None, None)


def test_invalid_filters_give_no_rows_not_an_error(bank):
    for params in ({"aum_min": "-5"}, {"occupation_group": "bogus"}, {"branch": "abc"}):
        customers, customer_filter = filtered_customers(bank.user("admin"), params)
        assert not customer_filter.is_valid()
        assert list(customers) == []


def test_name_search_is_a_prefix_search(bank):
    customers, _filter = filtered_customers(bank.user("admin"), {"q": "甲客户"})
    assert {c.customer_no for c in customers} == {"CA0000000001", "CA0000000002", "CA0000000003", "CA0000000004"}
    customers, _filter = filtered_customers(bank.user("admin"), {"q": "客户壹"})
    assert list(customers) == []


def test_timeline_merges_follows_and_events_newest_first(bank):
    customer = bank.customers["a_unfollowed"]
    now = timezone.now()
    CustomerEvent.objects.create(
        customer=customer, occurred_at=now + timedelta(minutes=5), kind=CustomerEvent.Kind.NOTE, summary="回访"
    )
    timeline = customer_timeline(customer)
    kinds = [entry.kind for entry in timeline]
    assert kinds[0] == "note"
    assert kinds.count("follow_added") == 2
    assert kinds.count("follow_deleted") == 1
    assert [entry.at for entry in timeline] == sorted((entry.at for entry in timeline), reverse=True)
    assert len(customer_timeline(customer, limit=2)) == 2


def test_owner_change_moves_the_branch_scope_and_is_on_the_timeline(bank):
    customer = bank.customers["a_own"]
    customer_set_owner(customer=customer, owner=bank.operators["operator_b"], actor=bank.operators["manager_a"])
    customer.refresh_from_db()
    assert customer.branch == bank.outlet_b
    assert visible_customers(bank.user("manager_b")).filter(pk=customer.pk).exists()
    assert not visible_customers(bank.user("manager_a")).filter(pk=customer.pk).exists()
    event = CustomerEvent.objects.get(customer=customer, kind=CustomerEvent.Kind.OWNER_CHANGED)
    assert event.summary == "赵甲 → 孙乙"
    assert event.data == {"from": bank.operators["operator_a"].pk, "to": bank.operators["operator_b"].pk}
    customer_set_owner(customer=customer, owner=None)
    customer.refresh_from_db()
    assert customer.branch is None


def test_one_live_follow_per_pair(bank):
    from django.db import IntegrityError, transaction

    customer, operator = bank.customers["a_own"], bank.operators["operator_a"]
    with pytest.raises(IntegrityError), transaction.atomic():
        FollowFactory(customer=customer, operator=operator)
    # A deleted follow is history; the pair may follow again.
    FollowRelationship.objects.filter(customer=customer, operator=operator).update(
        deleted_at=timezone.now(), deleted_by=FollowRelationship.DeletedBy.OPERATOR
    )
    FollowFactory(customer=customer, operator=operator)


def test_customer_ids_are_32_bit(bank):
    field = Customer._meta.pk
    assert field.get_internal_type() == "AutoField"


# --- web pages -----------------------------------------------------------------------------------------------


def test_customer_list_page(bank, login):
    response = login("manager_a").get(reverse("customers:list"))
    assert response.status_code == 200
    body = response.content.decode()
    for number in ("CA0000000001", "CA0000000002", "CA0000000003", "CA0000000004"):
        assert number in body
    assert "CB0000000001" not in body
    assert "138****5678" in body
    assert "13812345678" not in body


def test_customer_list_pages_with_after_and_before(bank, login):
    CustomerFactory.create_batch(55, owner=bank.operators["operator_a"])
    client = login("operator_a")
    first = client.get(reverse("customers:list"))
    page = first.context["page"]
    assert len(page.rows) == 50 and page.next_after
    second = client.get(reverse("customers:list"), {"after": page.next_after})
    assert len(second.context["page"].rows) == 58 - 50
    back = client.get(reverse("customers:list"), {"before": second.context["page"].prev_before})
    assert [c.pk for c in back.context["page"].rows] == [c.pk for c in page.rows]
    garbage = client.get(reverse("customers:list"), {"after": "x", "before": "<script>"})
    assert garbage.status_code == 200


def test_customer_list_with_invalid_filters_is_not_an_error(bank, login):
    response = login("manager_a").get(reverse("customers:list"), {"aum_min": "-5", "occupation_group": "bogus"})
    assert response.status_code == 200
    assert response.context["page"].rows == []


def test_customer_list_htmx_fragment_is_scoped(bank, login):
    response = login("operator_a").get(
        reverse("customers:list"),
        {"q": "CB0000000001"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="customer-results",
    )
    assert response.status_code == 200
    assert "tagging/_customer_rows.html" in [t.name for t in response.templates]
    assert "CB0000000001" not in response.content.decode()
    control = login("manager_b").get(
        reverse("customers:list"), {"q": "CB0000000001"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="customer-results"
    )
    assert "CB0000000001" in control.content.decode()


def test_customer_page_shows_profile_follows_and_timeline(bank, login):
    customer = bank.customers["a_followed"]
    response = login("operator_a").get(reverse("customers:detail", args=[customer.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert customer.name in body and customer.customer_no in body
    assert "赵甲" in body and "钱甲" in body  # both follows
    assert {entry.kind for entry in response.context["timeline"]} == {"follow_added"}


def test_export_button_only_for_roles_that_may_export(bank, login):
    assert login("operator_a").get(reverse("customers:list")).context["may_export"] is False
    assert login("lead_a").get(reverse("customers:list")).context["may_export"] is True


def test_filter_choices_are_the_visible_branches_and_owners(bank, login):
    choices = login("manager_a").get(reverse("customers:list")).context["choices"]
    branch_names = [branch.name for branch in choices.branches]
    assert bank.branch_a.name in branch_names and bank.branch_b.name not in branch_names
    assert choices.branches[0].depth == 0 and all(branch.depth >= 0 for branch in choices.branches)
    owner_ids = {pk for pk, _, _ in choices.owners}
    assert bank.operators["operator_a"].pk in owner_ids
    assert bank.operators["operator_b"].pk not in owner_ids


def test_too_many_owners_asks_for_a_branch_first(bank, login, monkeypatch):
    monkeypatch.setattr("tagging.selectors.OWNER_CHOICES_MAX", 3)
    client = login("admin")
    body = client.get(reverse("customers:list")).content.decode()
    options = response_owner_options(body)
    assert len(options) == 1 and not any(op.name in options[0] for op in bank.operators.values())
    narrowed = client.get(reverse("customers:list"), {"branch": bank.outlet_a.pk})
    assert {pk for pk, _, _ in narrowed.context["choices"].owners} == {
        op.pk for op in bank.operators.values() if op.branch_id == bank.outlet_a.pk
    }


def test_htmx_fragment_refreshes_the_owner_field_for_the_chosen_branch(bank, login):
    response = login("manager_a").get(
        reverse("customers:list"),
        {"branch": bank.outlet_a.pk, "owner": bank.operators["operator_a"].pk},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="customer-results",
    )
    body = response.content.decode()
    assert 'id="owner-field" hx-swap-oob="true"' in body
    selected = f'<option value="{bank.operators["operator_a"].pk}" selected>'
    assert selected in body


def response_owner_options(body: str) -> list[str]:
    field = body[body.index('id="owner-field"') : body.index("</select>", body.index('id="owner-field"'))]
    return [label.strip() for label in re.findall(r"<option[^>]*>([^<]*)</option>", field)]
