"""Reads about customers. Every entry point takes the requesting user and starts from the scope selector."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from tagging.filters import CustomerFilter
from tagging.models import Customer, CustomerEvent, FollowRelationship, ProductHolding, TagChange
from workbench.org.scope import get_visible_customer, visible_branches, visible_customers, visible_operators

PAGE_SIZE = 50
# Above this many operators a single owner drop-down is unusable (and slow to render): the list asks for a
# branch first and offers that branch's operators.
OWNER_CHOICES_MAX = 300


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


@dataclass(frozen=True)
class BranchChoice:
    pk: int
    name: str
    depth: int  # below the user's top branch

    @property
    def indent(self) -> str:
        return "\u3000" * self.depth


@dataclass
class FilterChoices:
    branches: list[BranchChoice]
    owners: list[tuple[int, str, str]] | None  # (pk, name, WeCom userid); None: too many, pick a branch first


def filter_choices(user, branch_id: int | None) -> FilterChoices:
    """The branch and owner options of the customer list, read as plain tuples (no model instances)."""
    branch_rows = list(visible_branches(user).order_by("path").values_list("pk", "name", "path"))
    top = min((len(path) for _, _, path in branch_rows), default=0)
    branches = [BranchChoice(pk, name, (len(path) - top) // 9) for pk, name, path in branch_rows]
    operators = visible_operators(user)
    if branch_id is not None:
        paths = [path for pk, _, path in branch_rows if pk == branch_id]
        if paths:
            operators = operators.filter(branch__path__startswith=paths[0])
    owners = list(operators.order_by("name", "pk").values_list("pk", "name", "wecom_userid")[: OWNER_CHOICES_MAX + 1])
    return FilterChoices(branches, owners if len(owners) <= OWNER_CHOICES_MAX else None)


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
    changes = (
        TagChange.objects.filter(customer=customer)
        .select_related("tag__group", "actor__operator")
        .order_by("-at", "-pk")[:limit]
    )
    for change in changes:
        operator = getattr(change.actor, "operator", None)  # None for a rule, an import, a login without a profile
        who = operator.name if operator else (change.actor.get_username() if change.actor else "")
        entries.append(
            TimelineEntry(
                change.at,
                f"tag_{change.action}",
                f"{change.tag.group.name} / {change.tag.name} · {change.get_source_display()}",
                who,
            )
        )
    from campaigns.delivery.selectors import timeline_entries  # mass messages, policy holds, tasks done

    entries.extend(TimelineEntry(*row) for row in timeline_entries(customer, limit=limit))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]
