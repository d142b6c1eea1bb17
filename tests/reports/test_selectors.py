"""Report figures against hand-computed facts (tests/reports/support.py says which rows exist)."""

from datetime import date
from decimal import Decimal

import pytest

from tests.reports.support import DAY1, DAY2, TODAY, standard_facts
from workbench.reports import selectors
from workbench.reports.periods import Period, last_month, last_week, period_from

PERIOD = Period("custom", DAY1, DAY2)


@pytest.fixture
def facts(bank):
    return standard_facts(bank)


def test_branch_kpis_sum_days_and_take_stocks_on_the_last_day(bank, facts):
    figures = selectors.kpis(selectors.branch_node(bank.branch_a), PERIOD)
    assert figures["last_day"] == DAY2
    assert figures["operators"] == 3
    assert figures["customers_owned"] == 12 + 8 + 3
    assert figures["effective_customers"] == 6 + 4 + 3
    assert figures["effective_ratio"] == pytest.approx(13 / 23)
    assert figures["customers_new"] == 7
    assert (figures["lost_by_customer"], figures["lost_by_operator"], figures["lost"]) == (3, 1, 4)
    assert figures["on_time_rate"] == pytest.approx(4 / 5)
    assert figures["confirm_rate"] == pytest.approx(3 / 4)
    assert figures["avg_confirm_minutes"] == pytest.approx(10)
    assert (figures["deliveries"], figures["clicks"], figures["conversions"]) == (40, 10, 7)
    assert figures["conversion_amount"] == Decimal("3600.50")
    assert figures["reply_5min_rate"] == pytest.approx(4 / 6)


def test_a_rate_without_denominator_is_none(bank, facts):
    figures = selectors.kpis(selectors.branch_node(bank.branch_b), PERIOD)
    assert figures["customers_owned"] == 99
    assert figures["on_time_rate"] is None and figures["reply_5min_rate"] is None


def test_operator_node_counts_only_their_rows(bank, facts):
    figures = selectors.kpis(selectors.operator_node(bank.operators["operator_a"]), PERIOD)
    assert figures["customers_owned"] == 12
    assert figures["conversions"] == 3
    assert figures["customers_new"] == 5  # the row before the period (50 new) is not counted


def test_trend_has_one_entry_per_day(bank, facts):
    trend = selectors.trend(selectors.branch_node(bank.branch_a), PERIOD)
    assert [(day["day"], day["customers_owned"], day["customers_new"]) for day in trend] == [
        (DAY1, 17, 3),
        (DAY2, 23, 4),
    ]


def test_children_roll_up_subtrees_and_list_operators_placed_on_the_node(bank, facts):
    team = selectors.children(selectors.branch_node(bank.sub_a), PERIOD, metric="conversions")
    assert [(c["kind"], c["name"], c["customers_owned"], c["conversions"], c["rank"]) for c in team] == [
        ("branch", "甲网点", 20, 7, 1),
        ("operator", "李组长", 3, 0, 2),
    ]
    outlet = selectors.children(selectors.branch_node(bank.outlet_a), PERIOD, metric="conversions")
    assert [(c["name"], c["conversions"]) for c in outlet] == [("钱甲", 4), ("赵甲", 3)]
    by_new = selectors.children(selectors.branch_node(bank.outlet_a), PERIOD, metric="customers_new")
    assert [(c["name"], c["customers_new"]) for c in by_new] == [("赵甲", 5), ("钱甲", 1)]


def test_the_bank_ranks_its_branches(bank, facts):
    node = selectors.bank_node()
    assert node.branch == bank.head
    ranked = selectors.children(node, PERIOD, metric="conversions")
    assert [(c["name"], c["conversions"], c["customers_owned"]) for c in ranked] == [
        ("乙分行", 9, 99),
        ("甲分行", 7, 23),
    ]


def test_an_unknown_metric_ranks_by_conversions(bank, facts):
    ranked = selectors.children(selectors.branch_node(bank.outlet_a), PERIOD, metric="drop table")
    assert ranked[0]["name"] == "钱甲"


def test_periods():
    assert period_from({"period": "7d"}, today=TODAY) == Period("7d", date(2026, 11, 4), date(2026, 11, 10))
    assert period_from({"period": "this_month"}, today=TODAY) == Period("this_month", date(2026, 11, 1), DAY2)
    assert period_from({"period": "last_month"}, today=TODAY) == Period(
        "last_month", date(2026, 10, 1), date(2026, 10, 31)
    )
    custom = period_from({"period": "custom", "start": "2026-11-10", "end": "2026-11-01"}, today=TODAY)
    assert (custom.start, custom.end) == (date(2026, 11, 1), date(2026, 11, 10))
    assert period_from({"period": "custom", "start": "nonsense"}, today=TODAY).key == "30d"
    assert last_week(TODAY) == Period("custom", date(2026, 11, 2), date(2026, 11, 8))
    assert last_month(date(2026, 1, 1)).start == date(2025, 12, 1)
