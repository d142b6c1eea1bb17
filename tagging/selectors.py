"""Reads about customers. Every entry point takes the requesting user and starts from the scope selector."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from tagging.filters import CustomerFilter
from tagging.models import Customer, CustomerEvent, FollowRelationship, ProductHolding
from workbench.org.scope import get_visible_customer, visible_customers

PAGE_SIZE = 50


class _RequestLike:
    """What django-filter needs of a request when a filter runs outside one (exports)."""

    def __init__(self, user):
        self.user = user


def filtered_customers(user, params, *, request=None) -> tuple[QuerySet[Customer], CustomerFilter]:
    base = visible_customers(user).select_related("owner", "branch")
    customer_filter = CustomerFilter(params, queryset=base, request=request or _RequestLike(user))
    if customer_filter.is_valid():
        return customer_filter.qs, customer_filter
    return base.none(), customer_filter


@dataclass
class KeysetPage:
    rows: list
    next_after: int | None
    prev_before: int | None


def keyset_page(
    queryset: QuerySet[Customer], *, after: int | None = None, before: int | None = None, size: int = PAGE_SIZE
) -> KeysetPage:
    """Newest first, paged by id: constant time at any depth, no COUNT over millions of rows."""
    if before is not None:
        rows = list(queryset.filter(pk__gt=before).order_by("pk")[: size + 1])
        has_more_before = len(rows) > size
        rows = list(reversed(rows[:size]))
        next_after = rows[-1].pk if rows else None
        return KeysetPage(rows, next_after, rows[0].pk if rows and has_more_before else None)
    page = queryset.order_by("-pk")
    if after is not None:
        page = page.filter(pk__lt=after)
    rows = list(page[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    return KeysetPage(rows, rows[-1].pk if has_more else None, rows[0].pk if rows and after is not None else None)


def customer_detail(user, pk) -> Customer:
    customer = get_visible_customer(user, pk)
    return (
        Customer.objects.select_related("owner", "branch")
        .prefetch_related(
            Prefetch("follows", queryset=FollowRelationship.objects.select_related("operator").order_by("-added_at")),
            Prefetch("holdings", queryset=ProductHolding.objects.select_related("product").order_by("-opened_on")),
        )
        .get(pk=customer.pk)
    )


@dataclass
class TimelineEntry:
    at: datetime
    kind: str
    summary: str
    operator: str


def customer_timeline(customer: Customer, *, limit: int = 100) -> list[TimelineEntry]:
    """Every touch of the customer, newest first, gathered from the rows that record them."""
    entries: list[TimelineEntry] = []
    for follow in customer.follows.all():
        entries.append(
            TimelineEntry(
                follow.added_at,
                "follow_added",
                _("Added %(operator)s on WeCom (%(way)s)")
                % {"operator": follow.operator.name, "way": follow.get_add_way_display()},
                follow.operator.name,
            )
        )
        if follow.deleted_at:
            entries.append(
                TimelineEntry(
                    follow.deleted_at, "follow_deleted", follow.get_deleted_by_display(), follow.operator.name
                )
            )
    events = CustomerEvent.objects.filter(customer=customer).select_related("operator").order_by("-occurred_at")[:limit]
    for event in events:
        entries.append(
            TimelineEntry(event.occurred_at, event.kind, event.summary, event.operator.name if event.operator else "")
        )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]
