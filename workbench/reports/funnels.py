"""Playbook funnels of a report: delivered → clicked → converted per playbook source, as the ICBC article
measures them (exposure counted by deliveries, then link clicks, then attributed purchases).

Only playbook sources count (an operator task of another origin is not a funnel). The figures come from
supervision's `SourceDay` rows (per operator, day and source, written with the daily facts): deliveries and
clicks by their sender, conversions by the operator `Attribution` credits, limited to the report's node (the
operator, or the branch subtree) and its period, so that a dashboard never scans raw deliveries. Today is not
closed yet and shows from tomorrow, like every other figure of the reports. Each row carries the playbook's
uplift against its control group (supervision's `playbook_uplift`: the whole playbook, every branch, with its
95 % interval) when the playbook has one.
"""

from decimal import Decimal

from django.db.models import Sum

from campaigns.delivery.selectors import source_label
from campaigns.playbooks.engine import SOURCE_KIND as PLAYBOOK
from workbench.reports.periods import Period
from workbench.reports.selectors import Node
from workbench.supervision.models import SourceDay

MAX_SOURCES = 20


def _in_node(queryset, node: Node):
    if node.operator is not None:  # an operator node's path, if any, is the branch viewer's subtree
        queryset = queryset.filter(operator=node.operator)
        return queryset.filter(branch_path__startswith=node.path) if node.path else queryset
    if node.path != "/":
        return queryset.filter(branch_path__startswith=node.path)
    return queryset


def playbook_funnels(node: Node, period: Period) -> list[dict]:
    days = SourceDay.objects.filter(source_kind=PLAYBOOK, day__gte=period.start, day__lte=period.end)
    grouped = (
        _in_node(days, node)
        .order_by()
        .values_list("source_kind", "source_id")
        .annotate(
            delivered=Sum("delivered"), clicked=Sum("clicks"), converted=Sum("conversions"),
            amount=Sum("conversion_amount"),
        )
    )  # fmt: skip
    rows = {
        (kind, source): {
            "delivered": delivered or 0,
            "clicked": clicked or 0,
            "converted": converted or 0,
            "amount": amount or Decimal(0),
        }
        for kind, source, delivered, clicked, converted, amount in grouped
    }
    ordered = sorted(rows.items(), key=lambda item: (-item[1]["delivered"], -item[1]["converted"], item[0]))
    funnels = []
    for (kind, source), figures in ordered[:MAX_SOURCES]:
        delivered_n = figures["delivered"]
        funnels.append(
            {
                "source_kind": kind,
                "source_id": source,
                "label": source_label(kind, source),
                **figures,
                "click_rate": figures["clicked"] / delivered_n if delivered_n else None,
                "conversion_rate": figures["converted"] / delivered_n if delivered_n else None,
                "uplift": uplift_of(kind, source),
            }
        )
    return funnels


def uplift_of(source_kind: str, source_id: int) -> dict | None:
    """The playbook's conversion uplift over its control group with its interval, when one was measured."""
    if source_kind != PLAYBOOK:
        return None
    from campaigns.playbooks.models import PlaybookVersion
    from workbench.supervision import selectors as supervision

    version = PlaybookVersion.objects.select_related("playbook").filter(pk=source_id).first()
    if version is None:
        return None
    uplift = supervision.playbook_uplift(version.playbook)
    return uplift if uplift.get("uplift") is not None else None
