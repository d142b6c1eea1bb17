"""Reading the facts: the scoped facts, playbook uplift, attribution totals. The dashboards aggregate `OperatorDay`
in `workbench.reports.selectors` and the scores in `workbench.incentives` (each as its figures need).

    facts_for(viewer, *, start, end, branch=None) -> QuerySet[OperatorDay]
        The daily rows from `start` to `end` (dates, both included) the user `viewer` may see (operators their
        own, team leads and branch managers their subtree, head office everything: `scope.visible_operator_days`),
        optionally narrowed to one branch's subtree (`branch`: a Branch or its id; outside the scope → nothing).

    playbook_uplift(playbook, *, window_days=None, fresh=False) -> dict
        Conversion of the customers an A/B split sent down an arm (treated) against its control group, the
        difference and its 95 % confidence interval (docs/supervision.md says how). Cached (the beat
        refreshes it); keys: treated, treated_converted, treated_rate, control, control_converted,
        control_rate, uplift, ci_low, ci_high, significant, window_days.

    attribution_summary(viewer, *, start, end) -> dict
        Attributed and unattributed conversions and amounts in the viewer's scope (unattributed: head office only).
"""

import math
from datetime import date, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from integrations.bank.models import ProductPurchase
from workbench.org.models import Branch
from workbench.org.roles import Scope
from workbench.org.scope import viewer_for, visible_operator_days, visible_operators
from workbench.supervision.models import Attribution, OperatorDay
from workbench.supervision.services import FIGURES

# The stocks (a level on a day: customers followed) and the figures that add up over days: every fact but the
# stocks and WeCom's own daily averages.
STOCKS = ["customers_owned", "effective_customers"]
SUMMED = [name for name in FIGURES if name not in (*STOCKS, "reply_percentage", "avg_reply_minutes")]
Z_95 = 1.959964  # the normal quantile for a two-sided 95 % interval
UPLIFT_CACHE_SECONDS = 3 * 3600  # the beat refreshes it every half hour; this only bounds a stalled beat


def facts_for(viewer, *, start: date, end: date, branch=None) -> QuerySet[OperatorDay]:
    days = visible_operator_days(viewer).filter(day__gte=start, day__lte=end)
    if branch is not None:
        path = branch.path if isinstance(branch, Branch) else Branch.objects.filter(pk=branch).values("path")
        if not isinstance(path, str):
            path = path.first()
            if path is None:
                return days.none()
            path = path["path"]
        days = days.filter(branch_path__startswith=path)
    return days


def ratio(numerator, denominator, scale: int = 1) -> float | None:
    """numerator / denominator × scale, or None when there is nothing to divide by."""
    if not denominator:
        return None
    return float(numerator or 0) * scale / float(denominator)


def playbook_uplift(playbook, *, window_days: int | None = None, fresh: bool = False) -> dict:
    """Treated (drawn into an arm) against control, by the purchases within the window after the draw.

    Each draw of an A/B split step is one trial (`StepRun` outcome "arm:…" or "control"); it converted when the
    customer bought anything in (draw, draw + window]. The difference of the two rates gets a Wald interval
    (normal approximation for two independent proportions): d ± 1.96 · √(p₁(1−p₁)/n₁ + p₀(1−p₀)/n₀).

    Measuring it reads every draw of the playbook (seconds for a million-customer bank's), so the answer is
    cached for UPLIFT_CACHE_SECONDS and refreshed by the facts beat (`services.refresh_playbook_uplifts`);
    `fresh=True` measures now.
    """
    from workbench.supervision.attribution import window_days as default_window

    window = window_days or default_window()
    key = f"supervision:uplift:{playbook.pk}:{window}"
    if not fresh:
        cached = cache.get(key)
        if cached is not None:
            return cached
    result = _measure_uplift(playbook, window)
    cache.set(key, result, UPLIFT_CACHE_SECONDS)
    return result


def _measure_uplift(playbook, window: int) -> dict:
    from campaigns.playbooks.models import StepRun

    bought = ProductPurchase.objects.filter(
        customer_id=OuterRef("customer_id"),
        purchased_at__gt=OuterRef("at"),
        purchased_at__lte=OuterRef("at") + timedelta(days=window),
    )
    draws = (
        StepRun.objects.filter(version__playbook=playbook)
        .filter(Q(outcome__startswith="arm:") | Q(outcome="control"))
        .annotate(converted=Exists(bought))
    )
    counts = draws.aggregate(
        treated=Count("pk", filter=Q(outcome__startswith="arm:")),
        treated_converted=Count("pk", filter=Q(outcome__startswith="arm:", converted=True)),
        control=Count("pk", filter=Q(outcome="control")),
        control_converted=Count("pk", filter=Q(outcome="control", converted=True)),
    )
    return uplift_from_counts(**counts) | {"window_days": window}


def uplift_from_counts(*, treated: int, treated_converted: int, control: int, control_converted: int) -> dict:
    treated_rate = ratio(treated_converted, treated)
    control_rate = ratio(control_converted, control)
    result = {
        "treated": treated,
        "treated_converted": treated_converted,
        "treated_rate": treated_rate,
        "control": control,
        "control_converted": control_converted,
        "control_rate": control_rate,
        "uplift": None,
        "ci_low": None,
        "ci_high": None,
        "significant": False,
    }
    if treated_rate is None or control_rate is None:
        return result
    uplift = treated_rate - control_rate
    error = math.sqrt(treated_rate * (1 - treated_rate) / treated + control_rate * (1 - control_rate) / control)
    low, high = uplift - Z_95 * error, uplift + Z_95 * error
    return result | {"uplift": uplift, "ci_low": low, "ci_high": high, "significant": low > 0 or high < 0}


def attribution_summary(viewer, *, start: date, end: date) -> dict:
    """Conversions in [start, end] (purchase days): attributed to operators the viewer may see; the unattributed
    ones belong to no operator, so only whole-bank viewers get them."""
    from workbench.supervision.services import day_bounds

    since, until = day_bounds(start)[0], day_bounds(end)[1]
    rows = Attribution.objects.filter(purchased_at__gte=since, purchased_at__lt=until)
    attributed = rows.filter(operator__isnull=False)
    whole_bank = viewer_for(viewer).scope == Scope.BANK
    if not whole_bank:
        attributed = attributed.filter(operator__in=visible_operators(viewer))
    summary = attributed.aggregate(conversions=Count("pk"), amount=Sum("amount"))
    result = {"attributed": summary["conversions"], "attributed_amount": summary["amount"] or Decimal(0)}
    if whole_bank:
        none = rows.filter(operator__isnull=True).aggregate(conversions=Count("pk"), amount=Sum("amount"))
        result |= {"unattributed": none["conversions"], "unattributed_amount": none["amount"] or Decimal(0)}
    else:
        result |= {"unattributed": None, "unattributed_amount": None}
    return result
