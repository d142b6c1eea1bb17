"""Reads of the customer 360 page: everything about one customer the viewer may see, each part bounded.

The customer comes from `tagging.selectors.customer_detail` (which starts from the scope selector), so every
function here takes a customer already known to be visible. The timeline merges every touch — deliveries with
their status, operator tasks, 1:1 messages, link clicks, policy suppressions, tag changes, follows and the
customer's events — and pages by time (newest first), so an old, busy customer costs the same as a new one.
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.channels.models import ChannelAdd
from campaigns.delivery.models import ChatMessage, Delivery, OperatorTask, Suppression
from campaigns.delivery.selectors import source_label
from campaigns.links.models import LinkClick
from campaigns.playbooks import spec
from campaigns.playbooks.models import Enrolment, Playbook
from campaigns.playbooks.selectors import step_summary
from integrations.bank.models import ProductPurchase
from tagging.models import Customer, CustomerEvent, FollowRelationship, TagChange
from tagging.segments import conditions as lang
from tagging.segments.bitmaps import BitmapsUnavailable, evaluate
from tagging.segments.selectors import segment_members, visible_segments

TIMELINE_PAGE = 30
SEGMENTS_CHECKED = 50  # the viewer's newest segments tested for membership; the page says when there are more
NOTES_SHOWN = 20
PURCHASES_SHOWN = 20
MAX_SKIP = 1000  # touches of one instant a cursor may step over (a bound on what a forged cursor can cost)


# --- segments and playbooks ------------------------------------------------------------------------------------


@dataclass
class SegmentMembership:
    segments: list  # the segments the customer is in
    checked: int
    more: bool  # more segments exist than were checked
    built_at: dt.datetime | None  # the bitmaps' build time (None: counted by SQL, current)


def segments_of(user, customer: Customer) -> SegmentMembership:
    """The viewer's own and shared segments this customer is a member of, from the segment bitmaps (one
    evaluation per segment, cached bitmaps), or by SQL while none are built yet."""
    candidates = list(visible_segments(user).order_by("-updated_at", "-pk")[: SEGMENTS_CHECKED + 1])
    more = len(candidates) > SEGMENTS_CHECKED
    candidates = candidates[:SEGMENTS_CHECKED]
    members, built_at = [], None
    for segment in candidates:
        try:
            condition = lang.validate(segment.condition)
        except lang.ConditionError:
            continue
        try:
            evaluation = evaluate(condition)
        except BitmapsUnavailable:
            if segment_members(user, condition).filter(pk=customer.pk).exists():
                members.append(segment)
            continue
        built_at = evaluation.built_at
        if customer.pk in evaluation.bitmap:
            members.append(segment)
    return SegmentMembership(members, len(candidates), more, built_at)


@dataclass
class JourneyRow:
    enrolment: Enrolment
    step_label: str
    step_summary: str


def journeys_of(customer: Customer, *, limit: int = 10) -> list[JourneyRow]:
    """The customer's playbook enrolments, in progress first, with the step they are at and when it runs next."""
    rows = []
    enrolments = (
        Enrolment.objects.filter(customer=customer)
        .select_related("playbook", "version")
        .order_by("finished_at", "-entered_at")[:limit]  # NULL (in progress) first in ascending order
    )
    for enrolment in enrolments:
        step = enrolment.version.step(enrolment.step) or {}
        rows.append(
            JourneyRow(enrolment, str(spec.STEP_TYPES.get(step.get("type"), "")), step_summary(step) if step else "")
        )
    return rows


def planned_next(customer: Customer, *, limit: int = 10) -> list[Delivery]:
    """Messages planned for the customer and not yet handed over (or waiting for the operator's confirmation)."""
    deliveries = (
        Delivery.objects.filter(
            customer=customer,
            status__in=[Delivery.Status.PLANNED, Delivery.Status.QUEUED, Delivery.Status.SUBMITTED],
        )
        .select_related("content_version__item", "sender")
        .order_by("due_at", "pk")[:limit]
    )
    rows = list(deliveries)
    for delivery in rows:
        delivery.source_label = source_label(delivery.source_kind, delivery.source_id)
    return rows


def open_tasks(customer: Customer, *, limit: int = 10) -> list[OperatorTask]:
    return list(
        OperatorTask.objects.filter(customer=customer, status__in=OperatorTask.PENDING)
        .select_related("operator")
        .order_by("due_at", "pk")[:limit]
    )


def enrollable_playbooks() -> QuerySet[Playbook]:
    return Playbook.objects.filter(status=Playbook.Status.ACTIVE, live_version__isnull=False).order_by("name")


# --- products, purchases, channels, notes ------------------------------------------------------------------------


def purchases_of(customer: Customer) -> list[ProductPurchase]:
    """Purchases with their attribution (which operator and touch earned them), newest first."""
    return list(
        ProductPurchase.objects.filter(customer=customer)
        .select_related("product", "attribution", "attribution__operator")
        .order_by("-purchased_at", "-pk")[:PURCHASES_SHOWN]
    )


def channel_of_follows(customer: Customer) -> dict[int, ChannelAdd]:
    """follow id → the channel code it came through."""
    adds = ChannelAdd.objects.filter(customer=customer).select_related("code")
    return {add.follow_id: add for add in adds}


def notes_of(customer: Customer) -> list[CustomerEvent]:
    return list(
        CustomerEvent.objects.filter(customer=customer, kind=CustomerEvent.Kind.NOTE)
        .select_related("operator")
        .order_by("-occurred_at", "-pk")[:NOTES_SHOWN]
    )


# --- the timeline ----------------------------------------------------------------------------------------------


@dataclass
class Touch:
    at: dt.datetime
    kind: str  # mass_message, operator_task, chat_message, link_click, contact_held, tag_added, tag_removed, …
    summary: str
    who: str
    order: int  # the source row's id: orders touches of the same instant the same way on every page


@dataclass
class TimelinePage:
    touches: list[Touch]
    next_cursor: str  # "" when this is the last page

    def __iter__(self):
        return iter(self.touches)


def parse_cursor(raw: str | None) -> tuple[dt.datetime | None, int]:
    """A cursor is "<ISO time>|<touches of that instant already shown>"; anything else starts from the top."""
    if not raw or "|" not in raw:
        return None, 0
    stamp, _sep, skip = raw.partition("|")
    try:
        at = dt.datetime.fromisoformat(stamp)
        skip_n = int(skip)
    except ValueError:
        return None, 0
    if timezone.is_naive(at) or not 0 <= skip_n <= MAX_SKIP:
        return None, 0
    return at, skip_n


def timeline_page(customer: Customer, *, cursor: str | None = None, size: int = TIMELINE_PAGE) -> TimelinePage:
    """One page of every touch, newest first. Each source is read with the same bound (at ≤ cursor, newest
    size + skip + 1 rows): the merged page is then exact without reading any source further than needed."""
    before, skip = parse_cursor(cursor)
    limit = size + skip + 1
    touches: list[Touch] = []
    for source in _SOURCES:
        touches.extend(source(customer, before, limit))
    touches.sort(key=lambda touch: (touch.at, touch.kind, touch.order), reverse=True)
    if before is not None:
        touches = touches[skip:]
    page = touches[:size]
    if len(touches) <= size:
        return TimelinePage(page, "")
    last = page[-1].at
    same_instant = sum(1 for touch in page if touch.at == last)
    if before is not None and last == before:
        same_instant += skip
    return TimelinePage(page, f"{last.isoformat()}|{same_instant}")


def _upto(queryset: QuerySet, field: str, before: dt.datetime | None, limit: int) -> QuerySet:
    if before is not None:
        queryset = queryset.filter(**{f"{field}__lte": before})
    return queryset.order_by(f"-{field}", "-pk")[:limit]


def _deliveries(customer, before, limit):
    rows = _upto(
        Delivery.objects.filter(customer=customer)
        .exclude(status=Delivery.Status.PLANNED)
        .select_related("sender", "content_version__item"),
        "due_at",
        before,
        limit,
    )
    for delivery in rows:
        summary = f"{delivery.content_version.item.title} · {delivery.get_status_display()}"
        if delivery.reason:
            summary += f" ({delivery.get_reason_display()})"
        yield Touch(
            delivery.due_at, "mass_message", summary, delivery.sender.name if delivery.sender else "", delivery.pk
        )


def _tasks(customer, before, limit):
    rows = _upto(OperatorTask.objects.filter(customer=customer).select_related("operator"), "created_at", before, limit)
    for task in rows:
        summary = f"{task.get_kind_display()} · {task.title} · {task.get_status_display()}"
        if task.outcome:
            summary += f" · {task.get_outcome_display()}"
        if task.outcome_note:
            summary += f": {task.outcome_note}"
        yield Touch(task.created_at, "operator_task", summary, task.operator.name, task.pk)


def _chat_messages(customer, before, limit):
    rows = _upto(
        ChatMessage.objects.filter(customer=customer).select_related("operator", "content_version__item"),
        "sent_at",
        before,
        limit,
    )
    for message in rows:
        title = message.content_version.item.title if message.content_version_id else ""
        text = message.text if len(message.text) <= 80 else message.text[:79] + "…"
        summary = f"{title}: {text}" if title else text
        yield Touch(message.sent_at, "chat_message", summary, message.operator.name, message.pk)


def _link_clicks(customer, before, limit):
    rows = _upto(
        LinkClick.objects.filter(customer=customer).select_related("link__version__item"),
        "clicked_at",
        before,
        limit,
    )
    for click in rows:
        version = click.link.version
        title = version.item.title if version is not None else click.link.url
        yield Touch(click.clicked_at, "link_click", _("Opened “%(title)s”") % {"title": title}, "", click.pk)


def _suppressions(customer, before, limit):
    for row in _upto(Suppression.objects.filter(customer=customer), "at", before, limit):
        summary = (
            f"{row.get_action_display()}: {row.get_reason_display()} · {source_label(row.source_kind, row.source_id)}"
        )
        if row.until:
            summary += " → " + timezone.localtime(row.until).strftime("%Y-%m-%d %H:%M")
        yield Touch(row.at, "contact_held", summary, "", row.pk)


def _tag_changes(customer, before, limit):
    rows = _upto(
        TagChange.objects.filter(customer=customer).select_related("tag__group", "actor__operator"), "at", before, limit
    )
    for change in rows:
        operator = getattr(change.actor, "operator", None) if change.actor_id else None
        who = operator.name if operator else (change.actor.get_username() if change.actor_id else "")
        summary = f"{change.tag.group.name} / {change.tag.name} · {change.get_source_display()}"
        yield Touch(change.at, f"tag_{change.action}", summary, who, change.pk)


def _events(customer, before, limit):
    for event in _upto(
        CustomerEvent.objects.filter(customer=customer).select_related("operator"), "occurred_at", before, limit
    ):
        yield Touch(
            event.occurred_at, event.kind, event.summary, event.operator.name if event.operator else "", event.pk
        )


def _follows(customer, before, limit):
    rows = _upto(
        FollowRelationship.objects.filter(customer=customer).select_related("operator"), "added_at", before, limit
    )
    for follow in rows:
        summary = _("Added %(operator)s on WeCom (%(way)s)") % {
            "operator": follow.operator.name,
            "way": follow.get_add_way_display(),
        }
        yield Touch(follow.added_at, "follow_added", summary, follow.operator.name, follow.pk)
    deleted = _upto(
        FollowRelationship.objects.filter(customer=customer, deleted_at__isnull=False).select_related("operator"),
        "deleted_at",
        before,
        limit,
    )
    for follow in deleted:
        yield Touch(
            follow.deleted_at, "follow_deleted", follow.get_deleted_by_display(), follow.operator.name, follow.pk
        )


_SOURCES = (
    _deliveries,
    _tasks,
    _chat_messages,
    _link_clicks,
    _suppressions,
    _tag_changes,
    _events,
    _follows,
)
