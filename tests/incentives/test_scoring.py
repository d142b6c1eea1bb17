"""The arithmetic of a score: achievement, caps, floors, lower-is-better, no data, sums and ranks."""

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.incentives.metrics import METRICS, SUMMED_FIELDS
from workbench.incentives.scoring import competition_ranks, score_line, score_operator


def _line(metric, sums, weight, target, cap, floor=0):
    return score_line(
        metric=metric,
        sums=sums,
        weight=weight,
        target=Decimal(str(target)),
        cap=Decimal(str(cap)),
        floor=Decimal(str(floor)),
    )


def test_points_are_weight_times_achievement():
    entry = _line("new_customers", {"customers_new": 5}, 40, 10, 48)
    assert entry["value"] == "5.00"
    assert entry["achievement"] == "50.00"
    assert entry["points"] == "20.00"
    assert not entry["capped"] and not entry["floored"] and not entry["no_data"]


def test_the_cap_holds_points_down_and_says_so():
    entry = _line("new_customers", {"customers_new": 20}, 40, 10, 48)
    assert entry["raw"] == "80.00"
    assert entry["points"] == "48.00"
    assert entry["capped"] is True


def test_the_floor_holds_points_up_and_says_so():
    # Net growth of −5 against a target of 10: raw −10 points, held at the floor of −5.
    entry = _line("net_growth", {"customers_new": 0, "lost_by_customer": 3, "lost_by_operator": 2}, 20, 10, 24, -5)
    assert entry["value"] == "-5.00"
    assert entry["raw"] == "-10.00"
    assert entry["points"] == "-5.00"
    assert entry["floored"] is True


def test_lower_is_better_rewards_values_under_the_target():
    assert METRICS["negative_feedback"].lower_is_better
    points = {
        value: _line("negative_feedback", {"negative_feedback": value}, 30, 2, 45)["points"] for value in range(6)
    }
    # At the target: the full weight. Each unit below earns 15, each unit above costs 15; cap 45, floor 0.
    assert points == {0: "45.00", 1: "45.00", 2: "30.00", 3: "15.00", 4: "0.00", 5: "0.00"}
    assert _line("negative_feedback", {"negative_feedback": 0}, 30, 2, 45)["capped"] is True
    assert _line("negative_feedback", {"negative_feedback": 5}, 30, 2, 45)["floored"] is True


def test_rates_are_percentages_and_nothing_to_measure_counts_as_met():
    measured = _line("tasks_on_time", {"tasks_on_time": 9, "tasks_done": 12}, 30, 90, 36)
    assert measured["value"] == "75.00"
    assert measured["points"] == "25.00"  # 30 × 75/90
    empty = _line("tasks_on_time", {"tasks_on_time": 0, "tasks_done": 0}, 30, 90, 36)
    assert empty["value"] is None and empty["no_data"] is True
    assert empty["points"] == "30.00"


def test_amounts_score_in_yuan():
    entry = _line("aum_converted", {"conversion_amount": Decimal("200000.00")}, 20, 100000, 30)
    assert entry["points"] == "30.00" and entry["capped"]


@dataclass
class Line:
    metric: str
    weight: int
    target: Decimal
    cap: Decimal
    floor: Decimal


LINES = [
    Line("new_customers", 17, Decimal("7"), Decimal("20.5"), Decimal("0")),
    Line("tasks_on_time", 23, Decimal("93"), Decimal("27"), Decimal("3")),
    Line("effective_ratio", 11, Decimal("61"), Decimal("13"), Decimal("0")),
    Line("net_growth", 19, Decimal("3"), Decimal("22"), Decimal("-7")),
    Line("negative_feedback", 13, Decimal("3"), Decimal("19"), Decimal("-2")),
    Line("aum_converted", 17, Decimal("333333"), Decimal("19"), Decimal("0")),
]


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({field: st.integers(min_value=0, max_value=10_000) for field in SUMMED_FIELDS}))
def test_the_breakdown_always_adds_up_to_the_total(sums):
    total, breakdown = score_operator(LINES, sums)
    assert sum(Decimal(entry["points"]) for entry in breakdown) == total
    for entry, line in zip(breakdown, LINES, strict=True):
        assert line.floor <= Decimal(entry["points"]) <= line.cap


def test_ranks_are_competition_ranks_within_each_group():
    totals = {1: Decimal("90"), 2: Decimal("80"), 3: Decimal("80"), 4: Decimal("70"), 5: Decimal("95")}
    groups = {1: "a", 2: "a", 3: "a", 4: "a", 5: "b"}
    ranks, sizes = competition_ranks(totals, groups)
    assert ranks == {1: 1, 2: 2, 3: 2, 4: 4, 5: 1}
    assert sizes == {"a": 4, "b": 1}


def test_periods_are_calendar_months_and_quarters():
    from datetime import date

    from workbench.incentives.periods import period_label, period_of, previous_period, recent_periods

    assert period_of(date(2026, 11, 24), "month") == (date(2026, 11, 1), date(2026, 11, 30))
    assert period_of(date(2026, 12, 31), "month") == (date(2026, 12, 1), date(2026, 12, 31))
    assert period_of(date(2026, 11, 24), "quarter") == (date(2026, 10, 1), date(2026, 12, 31))
    assert period_of(date(2027, 2, 28), "quarter") == (date(2027, 1, 1), date(2027, 3, 31))
    assert previous_period(date(2027, 1, 1), "quarter") == (date(2026, 10, 1), date(2026, 12, 31))
    assert previous_period(date(2027, 3, 1), "month") == (date(2027, 2, 1), date(2027, 2, 28))
    assert [start for start, _end in recent_periods(date(2026, 2, 10), "month", 3)] == [
        date(2026, 2, 1),
        date(2026, 1, 1),
        date(2025, 12, 1),
    ]
    assert (period_label(date(2026, 10, 1), "quarter"), period_label(date(2026, 10, 1), "month")) == (
        "2026 Q4",
        "2026-10",
    )
