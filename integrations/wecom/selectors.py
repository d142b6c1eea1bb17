"""Reads for the WeCom pages. Customer-related reads start from the scope selector."""

from django.db.models import Count, QuerySet

from integrations.wecom.models import CallbackEvent, CorpTag, SyncRun
from tagging.models import Customer
from workbench.org.scope import visible_customers, visible_transfers


def recent_syncs(limit: int = 10) -> list[SyncRun]:
    return list(SyncRun.objects.select_related("requested_by")[:limit])


def callback_summary() -> dict:
    counts = CallbackEvent.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    labels = dict(CallbackEvent.Status.choices)
    by_status = [(status, labels.get(status, status), n) for status, n in counts]
    return {"by_status": by_status, "recent": list(CallbackEvent.objects.defer("raw_xml")[:20])}


def corp_tag_groups() -> dict[str, list[CorpTag]]:
    groups: dict[str, list[CorpTag]] = {}
    for tag in CorpTag.objects.filter(deleted_at__isnull=True):
        groups.setdefault(tag.group_name, []).append(tag)
    return groups


def unmatched_contacts(user) -> QuerySet[Customer]:
    return visible_customers(user).filter(customer_no__isnull=True).select_related("owner", "branch").order_by("-pk")


def transfers_for(user):
    return visible_transfers(user).select_related("customer", "handover", "takeover", "requested_by")
