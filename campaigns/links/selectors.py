"""Reads of link tracking: click counts per content version, sender or context — what supervision scores."""

from django.db.models import Count, QuerySet

from campaigns.links.models import LinkClick

_GROUPS = {
    "version": "link__version",
    "item": "link__version__item",
    "sender": "link__sender",
    "context": "link__context",
}


def click_counts(*, by: str, since=None, until=None, sender_ids=None) -> list[dict]:
    """[{"key": id, "clicks": n, "customers": distinct customers identified}] grouped `by` version, item, sender
    or context; optionally within [since, until) and for some senders only."""
    column = _GROUPS[by]
    clicks = clicks_between(since=since, until=until)
    if sender_ids is not None:
        clicks = clicks.filter(link__sender_id__in=sender_ids)
    rows = (
        clicks.values(column)
        .annotate(clicks=Count("pk"), customers=Count("customer", distinct=True))
        .order_by("-clicks", column)
    )
    return [{"key": row[column], "clicks": row["clicks"], "customers": row["customers"]} for row in rows]


def clicks_between(*, since=None, until=None) -> QuerySet[LinkClick]:
    clicks = LinkClick.objects.all()
    if since is not None:
        clicks = clicks.filter(clicked_at__gte=since)
    if until is not None:
        clicks = clicks.filter(clicked_at__lt=until)
    return clicks


def clicks_of_version(version) -> dict:
    clicks = LinkClick.objects.filter(link__version=version)
    return {"clicks": clicks.count(), "customers": clicks.exclude(customer=None).values("customer").distinct().count()}
