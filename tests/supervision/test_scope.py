"""Who sees which facts: `facts_for` through scope.visible_operator_days."""

import datetime as dt

import pytest

from workbench.supervision import selectors, services
from workbench.supervision.models import OperatorDay

D = dt.date(2026, 10, 5)


@pytest.fixture
def facts(bank):
    services.compute_range(D, D + dt.timedelta(days=1))
    OperatorDay.objects.filter(operator=bank.operators["operator_a"], day=D).update(
        customers_owned=10, effective_customers=4, tasks_done=4, tasks_on_time=3, mass_tasks_received=2
    )
    return bank


def _operators(user, **kw):
    return set(selectors.facts_for(user, start=D, end=D, **kw).values_list("operator_id", flat=True))


def test_each_role_sees_its_own_rows(facts):
    ops = facts.operators
    assert _operators(facts.user("operator_a")) == {ops["operator_a"].pk}
    assert _operators(facts.user("lead_a")) == {
        ops[name].pk for name in ("operator_a", "operator_a2", "resigned", "lead_a")
    }
    assert _operators(facts.user("manager_b")) == {ops[name].pk for name in ("operator_b", "lead_b", "manager_b")}
    assert _operators(facts.user("admin")) == {op.pk for op in ops.values()}
    assert _operators(facts.user("nobody")) == set()


def test_a_branch_filter_stays_inside_the_scope(facts):
    assert _operators(facts.user("manager_a"), branch=facts.branch_b) == set()
    assert _operators(facts.user("admin"), branch=facts.branch_b.pk) == {
        facts.operators[name].pk for name in ("operator_b", "lead_b", "manager_b")
    }
    assert _operators(facts.user("admin"), branch=999_999) == set()


def test_the_date_range_includes_both_ends(facts):
    rows = selectors.facts_for(facts.user("operator_a"), start=D, end=D + dt.timedelta(days=1))
    assert rows.count() == 2
