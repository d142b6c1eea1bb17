"""Reads of the tag system. Anything about customers starts from the scope selector (`workbench.org.scope`)."""

from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count, Prefetch, Q
from django.http import Http404
from django.utils import timezone

from tagging.models import BulkTagJob, Customer, CustomerTag, Tag, TagChange, TagGroup, TagPush
from workbench.org.roles import Scope
from workbench.org.scope import viewer_for, visible_customers

COUNTS_CACHE_SECONDS = 300


def _scope_key(user) -> str:
    viewer = viewer_for(user)
    if viewer.scope == Scope.BANK:
        return "bank"
    if viewer.scope == Scope.BRANCH:
        return f"branch:{viewer.branch_path}"
    return f"user:{user.pk}"


def tag_counts(user) -> tuple[dict[int, int], object]:
    """Customers per tag within the user's data scope, and when that was counted (cached for 5 minutes)."""
    key = f"tags:counts:v1:{_scope_key(user)}"
    cached = cache.get(key)
    if cached is None:
        rows = CustomerTag.objects.all()
        if viewer_for(user).scope != Scope.BANK:
            rows = rows.filter(customer__in=visible_customers(user).values("pk"))
        counts = dict(rows.values_list("tag").annotate(n=Count("pk")).order_by())
        cached = (counts, timezone.now())
        cache.set(key, cached, COUNTS_CACHE_SECONDS)
    return cached


@dataclass
class LibraryGroup:
    group: TagGroup
    tags: list = field(default_factory=list)  # (tag, customers)


def tag_library(user) -> tuple[list[LibraryGroup], object]:
    """Every group with its active tags and their customer counts in the user's scope."""
    counts, counted_at = tag_counts(user)
    groups = TagGroup.objects.prefetch_related(
        Prefetch("tags", queryset=Tag.objects.filter(is_active=True).order_by("order", "name"))
    ).order_by("order", "name")
    library = [LibraryGroup(group, [(tag, counts.get(tag.pk, 0)) for tag in group.tags.all()]) for group in groups]
    return library, counted_at


def active_tag_count() -> int:
    return Tag.objects.filter(is_active=True).count()


def outbox_summary() -> dict:
    """Pushes to WeCom by status (the ones people act on), and the library rows not yet in step with WeCom."""
    by_status = dict(
        TagPush.objects.filter(status__in=[TagPush.Status.PENDING, TagPush.Status.SENDING, TagPush.Status.FAILED])
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {
        "pending": by_status.get(TagPush.Status.PENDING, 0),
        "sending": by_status.get(TagPush.Status.SENDING, 0),
        "failed": by_status.get(TagPush.Status.FAILED, 0),
        "library_waiting": Tag.objects.filter(Q(wecom_state="pending") | Q(wecom_state="error")).count(),
    }


def outbox_rows(status: str):
    """Pushes of one status, newest first, with what the page shows of them (whole bank: admins only)."""
    return (
        TagPush.objects.filter(status=status)
        .select_related("tag", "tag__group", "follow__customer", "follow__operator")
        .order_by("-updated_at", "-pk")
    )


def library_problems():
    """Groups and tags WeCom refused, or still waiting for it."""
    tags = Tag.objects.exclude(wecom_state="synced").select_related("group").order_by("group__order", "order")
    return tags


# --- one customer ----------------------------------------------------------------------------------------------


def customer_tags(customer: Customer) -> list[CustomerTag]:
    """The customer's current (active) tags, in library order."""
    return list(
        CustomerTag.objects.filter(customer=customer, tag__is_active=True)
        .select_related("tag", "tag__group", "added_by")
        .order_by("tag__group__order", "tag__group__name", "tag__order", "tag__name")
    )


def taggable_tags(customer_tags_now: list[CustomerTag]) -> list[Tag]:
    """Tags a person may add on the customer page: manual and rule ones (pinned) the customer does not have."""
    have = {row.tag_id for row in customer_tags_now}
    tags = (
        Tag.objects.filter(is_active=True, kind__in=[Tag.Kind.MANUAL, Tag.Kind.RULE])
        .select_related("group")
        .order_by("group__order", "group__name", "order", "name")
    )
    return [tag for tag in tags if tag.pk not in have]


def customer_tag_history(customer: Customer, *, limit: int = 100) -> list[TagChange]:
    return list(
        TagChange.objects.filter(customer=customer)
        .select_related("tag", "tag__group", "actor")
        .order_by("-at", "-pk")[:limit]
    )


# --- bulk jobs -------------------------------------------------------------------------------------------------


def bulk_tag_choices() -> list[Tag]:
    return list(
        Tag.objects.filter(is_active=True, kind=Tag.Kind.MANUAL)
        .select_related("group")
        .order_by("group__order", "group__name", "order", "name")
    )


def jobs_of(user):
    return BulkTagJob.objects.filter(requested_by=user).select_related("tag", "tag__group")


def get_job_of(user, pk) -> BulkTagJob:
    """Only the requester sees a job (404 otherwise, as for exports)."""
    job = jobs_of(user).filter(pk=pk).first()
    if job is None:
        raise Http404("No such job.")
    return job
