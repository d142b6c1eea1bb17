"""The home page's figures. Aggregates over a whole bank's customers take a noticeable fraction of a second, so
they are computed once per scope anchor and cached briefly; the page says how fresh they are."""

from django.core.cache import cache
from django.db.models import Count, Sum
from django.utils import timezone

from tagging.models import FollowRelationship
from workbench.org.roles import Scope
from workbench.org.scope import viewer_for, visible_customers, visible_operators

HOME_CACHE_SECONDS = 300


def _cache_key(user) -> str:
    viewer = viewer_for(user)
    if viewer.scope == Scope.BANK:
        anchor = "bank"
    elif viewer.scope == Scope.BRANCH:
        anchor = f"branch:{viewer.branch_path}"
    else:
        anchor = f"user:{user.pk}"
    return f"home-summary:v1:{anchor}"


def home_summary(user) -> dict:
    key = _cache_key(user)
    summary = cache.get(key)
    if summary is None:
        summary = _compute_home_summary(user)
        cache.set(key, summary, HOME_CACHE_SECONDS)
    return summary


def _compute_home_summary(user) -> dict:
    viewer = viewer_for(user)
    customers = visible_customers(user)
    week_ago = timezone.now() - timezone.timedelta(days=7)
    follows = FollowRelationship.objects.all()
    if viewer.scope != Scope.BANK:
        follows = follows.filter(customer__in=customers.values("pk"))
    totals = customers.aggregate(total=Count("pk"), aum=Sum("aum"))
    return {
        "summary": {"total": totals["total"] or 0, "aum": totals["aum"] or 0},
        "by_group": list(customers.values("occupation_group").annotate(n=Count("pk")).order_by("-n")),
        "new_this_week": follows.filter(added_at__gte=week_ago, deleted_at__isnull=True).count(),
        "lost_this_week": follows.filter(deleted_at__gte=week_ago).count(),
        "operators": visible_operators(user).filter(status="active").count(),
        "computed_at": timezone.now(),
    }
