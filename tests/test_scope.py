"""The scope selector: exactly which customers, operators and branches each persona sees."""

import pytest
from django.http import Http404

from tests.factories import FollowFactory
from workbench.org import scope
from workbench.org.models import Operator
from workbench.org.roles import Scope

ALL_CUSTOMERS = {"a_own", "a_followed", "a_unfollowed", "a_branch", "b_own", "b_shared", "unowned"}

EXPECTED_CUSTOMERS = {
    "operator_a": {"a_own", "a_followed", "b_shared"},
    "operator_a2": {"a_followed", "a_unfollowed"},
    "operator_b": {"b_own", "b_shared"},
    "lead_a": {"a_own", "a_followed", "a_unfollowed"},
    "lead_b": {"b_own", "b_shared"},
    "manager_a": {"a_own", "a_followed", "a_unfollowed", "a_branch"},
    "manager_b": {"b_own", "b_shared"},
    "admin": ALL_CUSTOMERS,
    "reviewer": ALL_CUSTOMERS,
    "superuser": ALL_CUSTOMERS,
    "resigned": set(),
    "nobody": set(),
}

ALL_OPERATORS = {
    "operator_a",
    "operator_a2",
    "operator_b",
    "lead_a",
    "lead_b",
    "manager_a",
    "manager_b",
    "admin",
    "reviewer",
    "resigned",
}

EXPECTED_OPERATORS = {
    "operator_a": {"operator_a"},
    "operator_a2": {"operator_a2"},
    "operator_b": {"operator_b"},
    "lead_a": {"lead_a", "operator_a", "operator_a2", "resigned"},
    "lead_b": {"lead_b", "operator_b"},
    "manager_a": {"manager_a", "lead_a", "operator_a", "operator_a2", "resigned"},
    "manager_b": {"manager_b", "lead_b", "operator_b"},
    "admin": ALL_OPERATORS,
    "reviewer": ALL_OPERATORS,
    "superuser": ALL_OPERATORS,
    "resigned": set(),
    "nobody": set(),
}

ALL_BRANCHES = {"head", "branch_a", "sub_a", "outlet_a", "branch_b", "sub_b", "outlet_b"}

EXPECTED_BRANCHES = {
    "operator_a": {"outlet_a"},
    "operator_a2": {"outlet_a"},
    "operator_b": {"outlet_b"},
    "lead_a": {"sub_a", "outlet_a"},
    "lead_b": {"sub_b", "outlet_b"},
    "manager_a": {"branch_a", "sub_a", "outlet_a"},
    "manager_b": {"branch_b", "sub_b", "outlet_b"},
    "admin": ALL_BRANCHES,
    "reviewer": ALL_BRANCHES,
    "superuser": ALL_BRANCHES,
    "resigned": set(),
    "nobody": set(),
}

EXPECTED_SCOPE = {
    "operator_a": Scope.SELF,
    "operator_a2": Scope.SELF,
    "operator_b": Scope.SELF,
    "lead_a": Scope.BRANCH,
    "lead_b": Scope.BRANCH,
    "manager_a": Scope.BRANCH,
    "manager_b": Scope.BRANCH,
    "admin": Scope.BANK,
    "reviewer": Scope.BANK,
    "superuser": Scope.BANK,
    "resigned": Scope.NONE,
    "nobody": Scope.NONE,
}


def _names(mapping: dict, objects) -> set[str]:
    by_pk = {obj.pk: key for key, obj in mapping.items()}
    return {by_pk[obj.pk] for obj in objects}


@pytest.mark.parametrize("persona", sorted(EXPECTED_CUSTOMERS))
def test_visible_customers(bank, persona):
    visible = scope.visible_customers(bank.user(persona))
    assert _names(bank.customers, visible) == EXPECTED_CUSTOMERS[persona]


@pytest.mark.parametrize("persona", sorted(EXPECTED_OPERATORS))
def test_visible_operators(bank, persona):
    visible = scope.visible_operators(bank.user(persona))
    assert _names(bank.operators, visible) == EXPECTED_OPERATORS[persona]


@pytest.mark.parametrize("persona", sorted(EXPECTED_BRANCHES))
def test_visible_branches(bank, persona):
    branches = {name: getattr(bank, name) for name in ALL_BRANCHES}
    assert _names(branches, scope.visible_branches(bank.user(persona))) == EXPECTED_BRANCHES[persona]
    ids = scope.visible_branch_ids(bank.user(persona))
    if EXPECTED_SCOPE[persona] == Scope.BANK:
        assert ids is None  # whole bank: no filter at all
    else:
        assert {branches[name].pk for name in EXPECTED_BRANCHES[persona]} == set(ids)


@pytest.mark.parametrize("persona", sorted(EXPECTED_SCOPE))
def test_scope_and_access(bank, persona):
    viewer = scope.viewer_for(bank.user(persona))
    assert viewer.scope == EXPECTED_SCOPE[persona]
    assert scope.has_access(bank.user(persona)) is (EXPECTED_SCOPE[persona] != Scope.NONE)


def test_anonymous_user_sees_nothing(bank):
    from django.contrib.auth.models import AnonymousUser

    anonymous = AnonymousUser()
    assert not scope.visible_customers(anonymous).exists()
    assert not scope.visible_operators(anonymous).exists()
    assert not scope.visible_branches(anonymous).exists()
    assert not scope.has_access(anonymous)
    assert not scope.visible_customers(None).exists()


def test_deleted_follow_does_not_count_but_a_new_live_follow_does(bank):
    operator_a = bank.operators["operator_a"]
    target = bank.customers["a_unfollowed"]
    assert not scope.visible_customers(bank.user("operator_a")).filter(pk=target.pk).exists()
    FollowFactory(customer=target, operator=operator_a)
    # viewer_for caches the role on the user object, not the customer set: a new query sees the follow.
    assert scope.visible_customers(bank.user("operator_a")).filter(pk=target.pk).exists()


def test_resigned_operator_sees_nothing_even_if_the_login_were_still_active(bank):
    user = bank.user("resigned")
    assert not user.is_active  # operator_resign switched the login off ...
    user.is_active = True  # ... and even a login somebody re-enabled by hand gets no data.
    user.save(update_fields=["is_active"])
    from django.contrib.auth import get_user_model

    fresh = get_user_model().objects.get(pk=user.pk)
    assert scope.viewer_for(fresh).scope == Scope.NONE
    assert not scope.visible_customers(fresh).exists()


def test_inactive_login_of_an_active_operator_sees_nothing(bank):
    user = bank.user("manager_a")
    user.is_active = False
    user.save(update_fields=["is_active"])
    from django.contrib.auth import get_user_model

    fresh = get_user_model().objects.get(pk=user.pk)
    assert not scope.visible_customers(fresh).exists()


def test_operator_moved_to_another_branch_takes_the_new_scope(bank):
    lead = Operator.objects.get(pk=bank.operators["lead_a"].pk)
    lead.branch = bank.sub_b
    lead.save(update_fields=["branch"])
    from django.contrib.auth import get_user_model

    fresh = get_user_model().objects.get(pk=lead.user_id)
    assert _names(bank.customers, scope.visible_customers(fresh)) == {"b_own", "b_shared"}


@pytest.mark.parametrize("persona", sorted(EXPECTED_CUSTOMERS))
def test_get_visible_customer(bank, persona):
    user = bank.user(persona)
    for key, customer in bank.customers.items():
        if key in EXPECTED_CUSTOMERS[persona]:
            assert scope.get_visible_customer(user, customer.pk) == customer
        else:
            with pytest.raises(Http404):
                scope.get_visible_customer(user, customer.pk)


def test_get_visible_customer_rejects_garbage_ids(bank):
    admin = bank.user("admin")
    for bad in ("abc", None, 2**40, -1):
        with pytest.raises(Http404):
            scope.get_visible_customer(admin, bad)


def test_get_visible_operator(bank):
    user = bank.user("manager_a")
    assert scope.get_visible_operator(user, bank.operators["operator_a"].pk) == bank.operators["operator_a"]
    with pytest.raises(Http404):
        scope.get_visible_operator(user, bank.operators["operator_b"].pk)
    with pytest.raises(Http404):
        scope.get_visible_operator(user, "x")


@pytest.mark.parametrize(
    ("persona", "pii", "export", "audit", "admin"),
    [
        ("operator_a", False, False, False, False),
        ("lead_a", False, True, False, False),
        ("manager_a", True, True, False, False),
        ("admin", True, True, True, True),
        ("reviewer", False, False, True, False),
        ("superuser", True, True, True, True),
        ("nobody", False, False, False, False),
        ("resigned", False, False, False, False),
    ],
)
def test_role_permissions(bank, persona, pii, export, audit, admin):
    user = bank.user(persona)
    assert scope.may_view_pii(user) is pii
    assert scope.may_export(user) is export
    assert scope.may_view_audit(user) is audit
    assert scope.may_use_admin(user) is admin


def test_viewer_is_computed_once_per_user_object(bank, django_assert_num_queries):
    user = bank.user("lead_a")
    scope.viewer_for(user)
    with django_assert_num_queries(0):
        scope.viewer_for(user)
