"""Scoring periods: calendar months and quarters, named by their first day."""

from datetime import date, timedelta

from workbench.incentives.models import PeriodKind


def period_of(day: date, kind: str) -> tuple[date, date]:
    """The period (first day, last day) of this kind that holds `day`."""
    first_month = day.month if kind == PeriodKind.MONTH else (day.month - 1) // 3 * 3 + 1
    start = date(day.year, first_month, 1)
    months = 1 if kind == PeriodKind.MONTH else 3
    following = _add_months(start, months)
    return start, following - timedelta(days=1)


def previous_period(start: date, kind: str) -> tuple[date, date]:
    return period_of(start - timedelta(days=1), kind)


def recent_periods(today: date, kind: str, count: int = 6) -> list[tuple[date, date]]:
    periods = [period_of(today, kind)]
    while len(periods) < count:
        periods.append(previous_period(periods[-1][0], kind))
    return periods


def period_label(start: date, kind: str) -> str:
    if kind == PeriodKind.QUARTER:
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    return f"{start:%Y-%m}"


def _add_months(start: date, months: int) -> date:
    index = start.month - 1 + months
    return date(start.year + index // 12, index % 12 + 1, 1)
