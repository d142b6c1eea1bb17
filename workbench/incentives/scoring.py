"""The arithmetic of a score, kept free of the database so each rule is tested on its own.

For one metric line: achievement = value ÷ target (lower-is-better metrics: (2 × target − value) ÷ target, so
meeting the target exactly is 100 % and every unit below it earns as much as a unit above would cost); raw points
= weight × achievement; points = raw held between the line's floor and cap. Points are rounded to cents per line
and the total is the sum of the rounded lines, so the breakdown always adds up to the total shown.
"""

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from workbench.incentives.metrics import METRICS, TWO_PLACES


def _cents(value: Decimal) -> Decimal:
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def score_line(*, metric: str, sums: dict, weight: int, target: Decimal, cap: Decimal, floor: Decimal) -> dict:
    definition = METRICS[metric]
    value = definition.value(sums)
    if value is None:
        # Nothing to measure (no task due, no mass send received): the line counts as met.
        achievement = Decimal(1)
    elif definition.lower_is_better:
        achievement = (2 * target - value) / target
    else:
        achievement = value / target
    raw = _cents(weight * achievement)
    points = min(cap, max(floor, raw))
    return {
        "metric": metric,
        "value": None if value is None else str(_cents(value)),
        "target": str(target),
        "weight": weight,
        "achievement": str(_cents(achievement * 100)),
        "raw": str(raw),
        "points": str(_cents(points)),
        "capped": raw > cap,
        "floored": raw < floor,
        "no_data": value is None,
    }


def score_operator(lines, sums: dict) -> tuple[Decimal, list[dict]]:
    breakdown = [
        score_line(
            metric=line.metric, sums=sums, weight=line.weight, target=line.target, cap=line.cap, floor=line.floor
        )
        for line in lines
    ]
    return sum((Decimal(entry["points"]) for entry in breakdown), Decimal(0)), breakdown


def competition_ranks(totals: dict[int, Decimal], group_of: dict[int, object]) -> tuple[dict, dict]:
    """Standard competition ranks (1, 2, 2, 4) of each key within its group, and each group's size."""
    groups = defaultdict(list)
    for key, total in totals.items():
        groups[group_of[key]].append((total, key))
    ranks, sizes = {}, {}
    for group, members in groups.items():
        members.sort(key=lambda item: item[0], reverse=True)
        sizes[group] = len(members)
        previous, rank = None, 0
        for position, (total, key) in enumerate(members, start=1):
            if total != previous:
                rank, previous = position, total
            ranks[key] = rank
    return ranks, sizes
