"""Helpers for the incentive tests: facts rows written directly (the facts engine is tested on its own) and a
scheme saved through the real service."""

from datetime import date
from decimal import Decimal

from workbench.incentives.services import scheme_save
from workbench.org.roles import Role
from workbench.supervision.models import OperatorDay

PERIOD = date(2026, 10, 1)  # October 2026: a closed month


def fact(operator, day: date, **figures) -> OperatorDay:
    return OperatorDay.objects.create(
        day=day, operator=operator, branch=operator.branch, branch_path=operator.branch.path, **figures
    )


def line(metric: str, weight: int, target, cap=None, floor=0) -> dict:
    return {
        "metric": metric,
        "weight": weight,
        "target": Decimal(str(target)),
        "cap": Decimal(str(cap if cap is not None else weight * 1.2)),
        "floor": Decimal(str(floor)),
    }


DEFAULT_LINES = [
    line("new_customers", 40, 10),
    line("tasks_on_time", 30, 90),
    line("negative_feedback", 30, 2, cap=45),
]


def make_scheme(user, *, name="客户经理月度考核", roles=(Role.OPERATOR,), branches=(), lines=None, kind="month"):
    version = scheme_save(
        user=user,
        scheme=None,
        name=name,
        period_kind=kind,
        roles=list(roles),
        branches=list(branches),
        lines=lines or DEFAULT_LINES,
    )
    version.scheme.is_active = True
    version.scheme.save(update_fields=["is_active"])
    return version.scheme
