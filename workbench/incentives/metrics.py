"""The metrics a scheme may score, each defined over sums of `supervision.OperatorDay` columns for a period.

A metric reads only period sums, so every operator's values come from ONE aggregate query (`SUMMED_FIELDS`).
Rates are percentages (0–100) and are "day-weighted": the effective-customer ratio of a month is the sum of the
daily effective customers over the sum of the daily customers followed, so a day with more customers weighs
more. A rate whose denominator is zero (no task was due, no mass send arrived) has no value: scoring treats it
as met (see `scoring.score_line`), because the operator had nothing to miss.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

TWO_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Metric:
    code: str
    label: str
    unit: str  # "count", "percent" or "yuan": how values and targets are written
    value: Callable[[dict], Decimal | None]
    lower_is_better: bool = False
    help: str = ""


def _sum(field: str) -> Callable[[dict], Decimal]:
    return lambda sums: Decimal(sums.get(field) or 0)


def _rate(numerator: str, denominator: str) -> Callable[[dict], Decimal | None]:
    def value(sums: dict) -> Decimal | None:
        below = Decimal(sums.get(denominator) or 0)
        if not below:
            return None
        return (Decimal(sums.get(numerator) or 0) * 100 / below).quantize(TWO_PLACES)

    return value


def _net_growth(sums: dict) -> Decimal:
    lost = Decimal(sums.get("lost_by_customer") or 0) + Decimal(sums.get("lost_by_operator") or 0)
    return Decimal(sums.get("customers_new") or 0) - lost


METRICS: dict[str, Metric] = {
    metric.code: metric
    for metric in [
        Metric("new_customers", _("New customers"), "count", _sum("customers_new"), help=_("WeCom adds")),
        Metric(
            "net_growth",
            _("Net customer growth"),
            "count",
            _net_growth,
            help=_("New customers minus those lost either way"),
        ),
        Metric(
            "effective_ratio",
            _("Effective-customer ratio"),
            "percent",
            _rate("effective_customers", "customers_owned"),
        ),
        # Both counted by the day the task was done (tasks_due counts by due day: the two would not match).
        Metric("tasks_on_time", _("Tasks done on time"), "percent", _rate("tasks_on_time", "tasks_done")),
        Metric(
            "mass_confirm_rate",
            _("Mass-send confirmation rate"),
            "percent",
            _rate("mass_tasks_confirmed", "mass_tasks_received"),
        ),
        Metric("deliveries", _("Messages delivered"), "count", _sum("deliveries")),
        Metric("clicks", _("Link clicks"), "count", _sum("clicks")),
        Metric("conversions", _("Conversions"), "count", _sum("conversions")),
        Metric("aum_converted", _("AUM converted"), "yuan", _sum("conversion_amount")),
        Metric(
            "reply_5min_rate",
            _("5-minute first-reply rate"),
            "percent",
            _rate("replied_within_5min", "conversations_started"),
        ),
        Metric(
            "negative_feedback",
            _("Negative feedback"),
            "count",
            _sum("negative_feedback"),
            lower_is_better=True,
            help=_("Lower is better"),
        ),
    ]
}

# Every OperatorDay column any metric reads: summed per operator in the one aggregate query.
SUMMED_FIELDS = [
    "customers_owned",
    "customers_new",
    "lost_by_customer",
    "lost_by_operator",
    "effective_customers",
    "tasks_done",
    "tasks_on_time",
    "mass_tasks_received",
    "mass_tasks_confirmed",
    "deliveries",
    "clicks",
    "conversions",
    "conversion_amount",
    "conversations_started",
    "replied_within_5min",
    "negative_feedback",
]


def metric_choices() -> list[tuple[str, str]]:
    return [(metric.code, metric.label) for metric in METRICS.values()]


UNIT_LABELS = {"count": _("count"), "percent": "%", "yuan": _("yuan")}
