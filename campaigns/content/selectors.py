"""Reads of the content library. Which items a user may see is answered here and nowhere else.

- whole bank (head-office admin, compliance reviewer): every item;
- branch subtree (branch manager, team lead): the items of their subtree — all of them for those who author
  content, approved ones otherwise — plus the approved items of the branches above them;
- self (operator): the approved items of their branch and the branches above it.

An item belongs to a branch; once approved, that branch's whole subtree may use it (head-office content: all).
"""

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from campaigns.content.models import (
    ContentAsset,
    ContentCategory,
    ContentItem,
    ContentVersion,
    Scenario,
    SensitiveWord,
)
from workbench.org.roles import Scope
from workbench.org.scope import may_author_content, viewer_for


def _ancestor_paths(path: str) -> list[str]:
    """ "/00000001/00000004/" → ["/00000001/", "/00000001/00000004/"]."""
    parts = [part for part in path.split("/") if part]
    return ["/" + "/".join(parts[: index + 1]) + "/" for index in range(len(parts))]


def visible_items(user) -> QuerySet[ContentItem]:
    viewer = viewer_for(user)
    items = ContentItem.objects.all()
    if viewer.scope == Scope.BANK:
        return items
    if viewer.scope == Scope.NONE or not viewer.branch_path:
        return items.none()
    approved = Q(current__isnull=False)
    above = Q(branch__path__in=_ancestor_paths(viewer.branch_path)) & approved
    if viewer.scope == Scope.BRANCH:
        subtree = Q(branch__path__startswith=viewer.branch_path)
        return items.filter(above | (subtree if may_author_content(user) else subtree & approved))
    return items.filter(above)


def get_visible_item(user, pk) -> ContentItem:
    try:
        return visible_items(user).select_related("category", "branch", "current").get(pk=pk)
    except (ContentItem.DoesNotExist, ValueError, TypeError):
        raise Http404("No such content.") from None


def may_edit(user, item: ContentItem) -> bool:
    """Authors edit the items of their own subtree (head-office admins: every item)."""
    if not may_author_content(user):
        return False
    viewer = viewer_for(user)
    return viewer.scope == Scope.BANK or item.branch.path.startswith(viewer.branch_path or "\0")


def library(
    user, *, q: str = "", category: str = "", use: str = "", status: str = "", scenario: str = ""
) -> QuerySet[ContentItem]:
    """The content list: search in titles and the texts of current and open versions."""
    items = visible_items(user).select_related("category", "branch", "current", "created_by")
    if q:
        items = items.filter(Q(title__icontains=q) | Q(versions__text__icontains=q)).distinct()
    if category.isdigit():
        items = items.filter(category_id=int(category))
    if use in ContentItem.Use.values:
        items = items.filter(use=use)
    if scenario in Scenario.values:
        items = items.filter(scenario=scenario)
    now = timezone.now()
    if status == "usable":
        items = items.filter(
            Q(current__valid_until__isnull=True) | Q(current__valid_until__gt=now), current__isnull=False
        )
    elif status == "in_review":
        items = items.filter(versions__status=ContentVersion.Status.SUBMITTED)
    elif status == "draft":
        items = items.filter(versions__status=ContentVersion.Status.DRAFT)
    elif status == "expired":
        items = items.filter(current__valid_until__lte=now)
    return items.order_by("-updated_at", "-id")


def open_version(item: ContentItem) -> ContentVersion | None:
    """The version being written or reviewed, if any (at most one per item)."""
    return item.versions.filter(status__in=ContentVersion.OPEN).first()


def open_versions_of(items) -> dict[int, ContentVersion]:
    rows = ContentVersion.objects.filter(item__in=items, status__in=ContentVersion.OPEN)
    return {version.item_id: version for version in rows}


def latest_version(item: ContentItem) -> ContentVersion | None:
    return item.versions.order_by("-number").first()


def history(item: ContentItem) -> QuerySet[ContentVersion]:
    return item.versions.select_related("author", "reviewed_by").order_by("-number")


def review_queue() -> QuerySet[ContentVersion]:
    """Submitted versions, oldest first (whole bank: compliance reviews everything)."""
    return (
        ContentVersion.objects.filter(status=ContentVersion.Status.SUBMITTED)
        .select_related("item", "item__branch", "item__category", "item__current", "author")
        .order_by("submitted_at", "pk")
    )


def get_submitted_version(pk) -> ContentVersion:
    try:
        return review_queue().get(pk=pk)
    except (ContentVersion.DoesNotExist, ValueError, TypeError):
        raise Http404("No such submission.") from None


def recently_reviewed(limit: int = 20) -> QuerySet[ContentVersion]:
    statuses = [ContentVersion.Status.APPROVED, ContentVersion.Status.REJECTED, ContentVersion.Status.SUPERSEDED]
    return (
        ContentVersion.objects.filter(status__in=statuses, reviewed_at__isnull=False)
        .select_related("item", "author", "reviewed_by")
        .order_by("-reviewed_at")[:limit]
    )


def usable_version(item: ContentItem, *, now=None) -> ContentVersion | None:
    """The version that may reach customers now: the approved one in use, unless it has expired."""
    current = item.current
    if current is None or current.status != ContentVersion.Status.APPROVED or current.is_expired(now):
        return None
    return current


def usable_items(user, *, uses=None) -> QuerySet[ContentItem]:
    """Items the user may use now (for pickers: a channel code's welcome message, later playbooks)."""
    now = timezone.now()
    items = visible_items(user).filter(
        Q(current__valid_until__isnull=True) | Q(current__valid_until__gt=now),
        current__status=ContentVersion.Status.APPROVED,
    )
    if uses:
        items = items.filter(use__in=uses)
    return items.select_related("current").order_by("title")


def usable_items_of_branch(branch_path: str, *, uses=None) -> QuerySet[ContentItem]:
    """What an operator of this branch may send now, without a login at hand (the WeCom sidebar knows the
    operator, not always a user): the approved, unexpired items of the branch and the branches above it."""
    now = timezone.now()
    items = ContentItem.objects.filter(
        Q(current__valid_until__isnull=True) | Q(current__valid_until__gt=now),
        branch__path__in=_ancestor_paths(branch_path),
        current__status=ContentVersion.Status.APPROVED,
    )
    if uses:
        items = items.filter(use__in=uses)
    return items.select_related("current", "category").order_by("title")


def categories() -> QuerySet[ContentCategory]:
    return ContentCategory.objects.all()


def sensitive_word_list() -> list[str]:
    return list(SensitiveWord.objects.values_list("word", flat=True))


def sensitive_words() -> QuerySet[SensitiveWord]:
    return SensitiveWord.objects.select_related("created_by")


def assets_of(version: ContentVersion) -> dict[int, ContentAsset]:
    ids = [attachment["asset"] for attachment in version.attachments if attachment.get("asset")]
    return {asset.pk: asset for asset in ContentAsset.objects.filter(pk__in=ids).defer("data")}


def get_visible_asset(user, pk) -> ContentAsset:
    try:
        return ContentAsset.objects.get(pk=pk, item__in=visible_items(user).values("pk"))
    except (ContentAsset.DoesNotExist, ValueError, TypeError):
        raise Http404("No such file.") from None
