"""Reads of channel codes and the channel report.

The report credits a customer to a channel by the follow's `state` (WeCom's own record of the code the customer
scanned, also found by the sync when a callback was lost). A follow that a transfer created carries the state
over but is a hand-over, not an add: it is left out. Per operator, the user's data scope applies.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, F, Max, Q, QuerySet
from django.http import Http404

from campaigns.channels.models import ChannelAdd, ChannelCode
from campaigns.content.models import ContentAsset
from tagging.models import AddWay, FollowRelationship
from workbench.org.scope import visible_operators

EARLY_LOSS = timedelta(days=7)


def codes() -> QuerySet[ChannelCode]:
    return (
        ChannelCode.objects.filter(deleted_at=None)
        .select_related("backup_operator", "welcome_item", "welcome_item__current")
        .prefetch_related("members__operator", "auto_tags")
        .annotate(added=Count("adds"), last_added=Max("adds__added_at"))
        .order_by("-created_at", "-id")
    )


def get_code(pk) -> ChannelCode:
    try:
        return ChannelCode.objects.select_related("backup_operator", "welcome_item").get(pk=pk, deleted_at=None)
    except (ChannelCode.DoesNotExist, ValueError, TypeError):
        raise Http404("No such channel code.") from None


def recent_adds(code: ChannelCode, limit: int = 20) -> QuerySet[ChannelAdd]:
    return code.adds.select_related("customer", "operator").order_by("-added_at")[:limit]


def welcome_assets() -> QuerySet[ContentAsset]:
    """The assets of the welcome messages live codes would send now."""
    return (
        ContentAsset.objects.filter(item__channel_codes__deleted_at=None, item__current__isnull=False)
        .defer("data")
        .distinct()
    )


@dataclass
class ReportRow:
    key: object
    label: str
    adds: int
    lost_early: int
    active: int

    @property
    def other(self) -> int:
        """Deleted later than 7 days after the add, or moved away by a transfer."""
        return max(self.adds - self.active - self.lost_early, 0)

    @property
    def lost_share(self) -> float:
        return self.lost_early / self.adds if self.adds else 0.0

    @property
    def active_share(self) -> float:
        return self.active / self.adds if self.adds else 0.0


def _follows(user, *, since, until) -> QuerySet[FollowRelationship]:
    states = ChannelCode.objects.values("state")
    follows = FollowRelationship.objects.filter(state__in=states, operator__in=visible_operators(user).values("pk"))
    if since is not None:
        follows = follows.filter(added_at__gte=since)
    if until is not None:
        follows = follows.filter(added_at__lt=until)
    return follows.exclude(add_way=AddWay.ADMIN_ASSIGNED)


_COUNTS = {
    "adds": Count("pk"),
    # Deleted — by the customer or the operator, not moved by a transfer — within 7 days of the add.
    "lost_early": Count(
        "pk",
        filter=Q(
            deleted_at__isnull=False,
            deleted_by__in=[FollowRelationship.DeletedBy.CUSTOMER, FollowRelationship.DeletedBy.OPERATOR],
            deleted_at__lt=F("added_at") + EARLY_LOSS,
        ),
    ),
    "active": Count("pk", filter=Q(deleted_at__isnull=True)),
}


def report_by_channel(user, *, since=None, until=None) -> list[ReportRow]:
    names = {
        state: (pk, name, deleted)
        for pk, state, name, deleted in ChannelCode.objects.values_list("pk", "state", "name", "deleted_at")
    }
    rows = _follows(user, since=since, until=until).values("state").annotate(**_COUNTS).order_by("-adds", "state")
    report = []
    for row in rows:
        pk, name, deleted = names[row["state"]]
        report.append(ReportRow(pk, name + (" ✕" if deleted else ""), row["adds"], row["lost_early"], row["active"]))
    return report


def report_by_operator(user, *, since=None, until=None) -> list[ReportRow]:
    rows = (
        _follows(user, since=since, until=until)
        .values("operator", "operator__name", "operator__branch__name")
        .annotate(**_COUNTS)
        .order_by("-adds", "operator__name")
    )
    return [
        ReportRow(
            row["operator"],
            f"{row['operator__name']} · {row['operator__branch__name']}",
            row["adds"],
            row["lost_early"],
            row["active"],
        )
        for row in rows
    ]
