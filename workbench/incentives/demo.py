"""The demo's incentive scheme, 客户经理月度考核, and its scores for the current and the previous month.

Targets are set the way a head office would set them for a new scheme: at about what a typical operator did last
month (the median of last month's facts, rounded to a round number), so in the demo about half the operators
meet each target and the board spreads out. A bank without history gets the fallback targets below.
"""

import statistics
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum
from django.utils import timezone

from workbench.incentives.metrics import METRICS, SUMMED_FIELDS
from workbench.incentives.models import PeriodKind, Scheme
from workbench.incentives.periods import period_of, previous_period
from workbench.incentives.services import scheme_save, scheme_set_active, scores_compute
from workbench.org.models import Operator
from workbench.org.roles import Role
from workbench.supervision.models import OperatorDay

NAME = "客户经理月度考核"

# metric: (weight, fallback target, cap as a multiple of the weight, floor)
PLAN = {
    "new_customers": (20, Decimal("10"), Decimal("1.5"), Decimal("0")),
    "effective_ratio": (15, Decimal("60"), Decimal("1.2"), Decimal("0")),
    "tasks_on_time": (15, Decimal("90"), Decimal("1.1"), Decimal("0")),
    "mass_confirm_rate": (10, Decimal("90"), Decimal("1.1"), Decimal("0")),
    "conversions": (15, Decimal("3"), Decimal("1.5"), Decimal("0")),
    "aum_converted": (10, Decimal("100000"), Decimal("1.5"), Decimal("0")),
    "reply_5min_rate": (10, Decimal("80"), Decimal("1.2"), Decimal("0")),
    "negative_feedback": (5, Decimal("1"), Decimal("1.5"), Decimal("-5")),
}


def seed_incentives_demo(*, log=lambda message: None) -> dict:
    """Create (or leave) the demo scheme, active, and compute this month and last month. Idempotent."""
    admin = Operator.objects.filter(role=Role.HEAD_OFFICE_ADMIN, user__isnull=False).select_related("user").first()
    user = admin.user if admin else None
    scheme = Scheme.objects.filter(name=NAME).first()
    today = timezone.localdate()
    this_month = period_of(today, PeriodKind.MONTH)
    last_month = previous_period(this_month[0], PeriodKind.MONTH)
    if scheme is None:
        targets = _calibrated_targets(*last_month)
        lines = [
            {"metric": metric, "weight": weight, "target": targets[metric], "cap": weight * cap, "floor": floor}
            for metric, (weight, _fallback, cap, floor) in PLAN.items()
        ]
        version = scheme_save(
            user=user,
            scheme=None,
            name=NAME,
            period_kind=PeriodKind.MONTH,
            roles=[Role.OPERATOR],
            branches=[],
            lines=lines,
            note="演示方案：目标按上月中位数设定",
        )
        scheme = version.scheme
    if not scheme.is_active:
        scheme_set_active(user=user, scheme=scheme, active=True)
    scored = {str(start): scores_compute(scheme=scheme, period_start=start) for start, _end in (last_month, this_month)}
    log(f"incentives: {NAME} v{scheme.current.number}, scores {scored}")
    return {"scheme": scheme.pk, "scored": scored}


def _calibrated_targets(start, end) -> dict:
    """Last month's median per metric over the operators the scheme will score (active operators), rounded;
    the fallback when there is no history."""
    operators = Operator.objects.filter(status=Operator.Status.ACTIVE, role=Role.OPERATOR)
    rows = list(
        OperatorDay.objects.filter(day__range=(start, end), operator__in=operators.values("pk"))
        .values("operator_id")
        .annotate(**{field: Sum(field) for field in SUMMED_FIELDS})
    )
    targets = {}
    for metric, (_weight, fallback, _cap, _floor) in PLAN.items():
        values = [value for row in rows if (value := METRICS[metric].value(row)) is not None]
        median = Decimal(statistics.median(values)) if values else Decimal(0)
        targets[metric] = _round_target(median, METRICS[metric].unit) if median > 0 else fallback
    return targets


def _round_target(value: Decimal, unit: str) -> Decimal:
    if unit == "percent":  # to the nearest 5 %
        return max(Decimal(5), (value / 5).quantize(Decimal(1), rounding=ROUND_HALF_UP) * 5)
    if unit == "yuan":  # to the nearest 10,000 yuan
        return max(Decimal(10000), (value / 10000).quantize(Decimal(1), rounding=ROUND_HALF_UP) * 10000)
    return max(Decimal(1), value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
