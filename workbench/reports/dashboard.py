"""Everything one dashboard page shows, as template context plus the JSON its charts are drawn from."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _

from workbench.org.scope import may_export, viewer_for
from workbench.reports import periods, selectors
from workbench.reports.funnels import playbook_funnels
from workbench.reports.sending import is_manager

RATES = {"effective_ratio", "on_time_rate", "confirm_rate", "reply_5min_rate"}


def child_url(child: dict, query: str) -> str:
    name = "reports:branch" if child["kind"] == "branch" else "reports:operator"
    return f"{reverse(name, args=[child['pk']])}?{query}"


def node_url(node: selectors.Node, query: str) -> str:
    if node.operator is not None:
        return f"{reverse('reports:operator', args=[node.operator.pk])}?{query}"
    if node.branch is not None:
        return f"{reverse('reports:branch', args=[node.branch.pk])}?{query}"
    return f"{reverse('reports:index')}?{query}"


def tiles(figures: dict) -> list[dict]:
    """The KPI tiles: (label, value, kind, hint, tone)."""
    return [
        {"label": _("Customers"), "value": figures["customers_owned"], "kind": "int", "tone": "",
         "hint": _("Followed on the last day with facts")},
        {"label": _("New customers"), "value": figures["customers_new"], "kind": "int", "tone": "is-good",
         "hint": _("Added in the period")},
        {"label": _("Lost customers"), "value": figures["lost"], "kind": "int", "tone": "is-warn",
         "hint": _("%(c)s deleted the operator, %(o)s deleted by the operator")
         % {"c": figures["lost_by_customer"], "o": figures["lost_by_operator"]}},
        {"label": _("Effective-customer ratio"), "value": figures["effective_ratio"], "kind": "percent", "tone": "",
         "hint": _("%(n)s effective customers") % {"n": figures["effective_customers"]}},
        {"label": _("Tasks on time"), "value": figures["on_time_rate"], "kind": "percent", "tone": "",
         "hint": _("%(d)s of %(n)s tasks done") % {"d": figures["tasks_on_time"], "n": figures["tasks_done"]}},
        {"label": _("Mass-send confirmation rate"), "value": figures["confirm_rate"], "kind": "percent", "tone": "",
         "hint": _("%(d)s of %(n)s received")
         % {"d": figures["mass_tasks_confirmed"], "n": figures["mass_tasks_received"]}},
        {"label": _("Clicks"), "value": figures["clicks"], "kind": "int", "tone": "is-neutral",
         "hint": _("On %(n)s messages delivered") % {"n": figures["deliveries"]}},
        {"label": _("Conversions"), "value": figures["conversions"], "kind": "int", "tone": "is-good",
         "hint": _("Purchases attributed to a touch")},
        {"label": _("AUM converted"), "value": figures["conversion_amount"], "kind": "money", "tone": "is-good",
         "hint": _("Yuan, attributed purchases")},
        {"label": _("5-minute reply rate"), "value": figures["reply_5min_rate"], "kind": "percent", "tone": "",
         "hint": _("%(d)s of %(n)s customer conversations")
         % {"d": figures["replied_within_5min"], "n": figures["conversations_started"]}},
    ]  # fmt: skip


def _rate(value):
    return None if value is None else round(value * 100, 1)


def chart_data(node, trend, ranked, metric, funnels, figures, query) -> dict:
    metric_label = dict(selectors.RANK_METRICS)[metric]
    is_rate = metric in RATES
    top = ranked[:15]
    return {
        "days": [day["day"].isoformat() for day in trend],
        "series": {
            "customers": [day["customers_owned"] for day in trend],
            "new": [day["customers_new"] for day in trend],
            "lostByCustomer": [day["lost_by_customer"] for day in trend],
            "lostByOperator": [day["lost_by_operator"] for day in trend],
            "deliveries": [day["deliveries"] for day in trend],
            "clicks": [day["clicks"] for day in trend],
            "conversions": [day["conversions"] for day in trend],
            "effectiveRatio": [_rate(day["effective_ratio"]) for day in trend],
            "reply5min": [_rate(day["reply_5min_rate"]) for day in trend],
            "onTime": [_rate(day["on_time_rate"]) for day in trend],
        },
        "ranking": {
            "names": [child["name"] for child in top],
            "values": [_rate(child[metric]) if is_rate else float(child[metric] or 0) for child in top],
            "links": [child_url(child, query) for child in top],
            "metric": str(metric_label),
            "percent": is_rate,
        },
        "churn": {"byCustomer": figures["lost_by_customer"], "byOperator": figures["lost_by_operator"]},
        "funnels": {
            "names": [funnel["label"] for funnel in funnels[:10]],
            "delivered": [funnel["delivered"] for funnel in funnels[:10]],
            "clicked": [funnel["clicked"] for funnel in funnels[:10]],
            "converted": [funnel["converted"] for funnel in funnels[:10]],
        },
        "labels": {
            "customers": _("Customers"),
            "new": _("New customers"),
            "lostByCustomer": _("Deleted the operator"),
            "lostByOperator": _("Deleted by the operator"),
            "deliveries": _("Messages delivered"),
            "clicks": _("Clicks"),
            "conversions": _("Conversions"),
            "effectiveRatio": _("Effective-customer ratio"),
            "reply5min": _("5-minute reply rate"),
            "onTime": _("Tasks on time"),
            "delivered": _("Delivered"),
            "clicked": _("Clicked"),
            "converted": _("Converted"),
        },
    }


def build(user, node: selectors.Node, params) -> dict:
    period = periods.period_from(params)
    metric = params.get("metric") if params.get("metric") in selectors.RANK_KEYS else "conversions"
    query = urlencode({**period.as_params(), "metric": metric})
    figures, ranked = selectors.overview(node, period, metric=metric)
    trend = selectors.trend(node, period)
    for child in ranked:
        child["url"] = child_url(child, query)
        child["value"] = child[metric]
    funnels = playbook_funnels(node, period)
    churn_rows = sorted(ranked, key=lambda child: (-child["lost"], child["name"]))[:10]
    viewer = viewer_for(user)
    return {
        "node": node,
        "node_key": selectors.node_key(node),
        "crumbs": [(crumb, node_url(crumb, query)) for crumb in selectors.breadcrumb(user, node)],
        "period": period,
        "period_choices": periods.CHOICES,
        "branch_choices": selectors.branch_choices(user),
        "rank_metrics": selectors.RANK_METRICS,
        "metric": metric,
        "metric_is_rate": metric in RATES,
        "figures": figures,
        "tiles": tiles(figures),
        "ranked": ranked,
        "churn_rows": churn_rows,
        "funnels": funnels,
        "has_uplift": any(funnel["uplift"] for funnel in funnels),
        "chart_data": chart_data(node, trend, ranked, metric, funnels, figures, query),
        "may_export": may_export(user),
        "may_send": is_manager(viewer.operator) and bool(viewer.operator.wecom_userid),
    }
