"""Who sees which facts: `facts_for` through scope.visible_operator_days, and the rollups' ratios."""

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


def test_rollups_compute_ratios_without_dividing_by_zero(facts):
    rows = selectors.facts_for(facts.user("admin"), start=D, end=D)
    by_operator = {row["operator_id"]: row for row in selectors.rollup(rows, by="operator")}
    mine = by_operator[facts.operators["operator_a"].pk]
    assert mine["effective_ratio"] == pytest.approx(0.4)
    assert mine["on_time_rate"] == pytest.approx(0.75)
    assert mine["confirmation_rate"] == 0.0
    assert mine["reply_5min_rate"] is None and mine["avg_confirm_delay_minutes"] is None
    other = by_operator[facts.operators["operator_b"].pk]
    assert other["effective_ratio"] is None and other["on_time_rate"] is None
    bank_row = selectors.rollup(rows, by="bank")[0]
    assert bank_row["customers_owned"] == 10 and bank_row["days"] == 1
    by_day = selectors.rollup(selectors.facts_for(facts.user("admin"), start=D, end=D + dt.timedelta(days=1)), by="day")
    assert [row["day"] for row in by_day] == [D, D + dt.timedelta(days=1)]
    with pytest.raises(ValueError):
        selectors.rollup(rows, by="planet")


def test_rollup_children_drills_down_one_level(facts):
    rows = selectors.facts_for(facts.user("admin"), start=D, end=D)
    children = selectors.rollup_children(rows, facts.head)
    paths = [row["child_path"] for row in children]
    assert paths == sorted([facts.head.path, facts.branch_a.path, facts.branch_b.path])
    branch_a = next(row for row in children if row["child_path"] == facts.branch_a.path)
    assert branch_a["customers_owned"] == 10
