"""Reads of the WeCom chat sidebar: the customer card, tags, open tasks, recommended content and quick replies.

The customer has been checked already (`services.chat_customer`: a live follow of this operator). Personal data is
shown masked, whatever the role: the sidebar sits in a chat window on a phone, and revealing full values is a
workbench action with its own audit row.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from campaigns.channels.models import ChannelCode
from campaigns.content import quick_replies
from campaigns.content.models import ContentItem
from campaigns.delivery.models import ChatMessage, OperatorTask
from tagging.models import Customer, CustomerTag, FollowRelationship, Tag
from tagging.tags.selectors import customer_tags
from workbench.org.models import Operator

# Upper edges (yuan) of the AUM bands an operator sees instead of the exact figure.
AUM_BANDS = [
    (Decimal(10_000), _("under 10,000")),
    (Decimal(50_000), _("10,000 – 50,000")),
    (Decimal(500_000), _("50,000 – 500,000")),
    (Decimal(1_000_000), _("500,000 – 1 million")),
    (Decimal(5_000_000), _("1 – 5 million")),
]
AUM_TOP_BAND = _("5 million and more")
RECENT_MESSAGES = 5
QUICK_REPLIES_SHOWN = 8
RECOMMENDED_SHOWN = 4


def aum_band(aum) -> str:
    for upper, label in AUM_BANDS:
        if (aum or 0) < upper:
            return str(label)
    return str(AUM_TOP_BAND)


@dataclass(frozen=True)
class CustomerCard:
    customer: Customer
    follow: FollowRelationship
    owner_name: str
    aum_band: str
    channel_name: str


def customer_card(operator: Operator, customer: Customer) -> CustomerCard:
    follow = (
        FollowRelationship.objects.filter(customer=customer, operator=operator, deleted_at__isnull=True)
        .order_by("-added_at")
        .first()
    )
    owner = Operator.objects.filter(pk=customer.owner_id).values_list("name", flat=True).first()
    channels = ChannelCode.objects.filter(state=follow.state) if follow.state else ChannelCode.objects.none()
    channel = channels.values_list("name", flat=True).first()
    return CustomerCard(
        customer=customer,
        follow=follow,
        owner_name=owner or "",
        aum_band=aum_band(customer.aum),
        channel_name=channel or "",
    )


def tags_of(customer: Customer) -> list[CustomerTag]:
    return customer_tags(customer)


def addable_tags(rows: list[CustomerTag]) -> list[Tag]:
    """Manual tags the customer does not have (the sidebar changes manual tags only)."""
    have = {row.tag_id for row in rows}
    tags = (
        Tag.objects.filter(is_active=True, kind=Tag.Kind.MANUAL)
        .select_related("group")
        .order_by("group__order", "group__name", "order", "name")
    )
    return [tag for tag in tags if tag.pk not in have]


def open_tasks(operator: Operator, customer: Customer) -> list[OperatorTask]:
    return list(
        OperatorTask.objects.filter(operator=operator, customer=customer, status__in=OperatorTask.PENDING).order_by(
            "due_at", "pk"
        )
    )


def recommended(operator: Operator, customer: Customer, rows: list[CustomerTag]) -> list[quick_replies.FilledReply]:
    names = [row.tag.name for row in rows]
    items = quick_replies.recommended(operator, customer, tag_names=names, limit=RECOMMENDED_SHOWN)
    return quick_replies.filled(items, operator=operator, customer=customer)


def replies(operator: Operator, customer: Customer, *, q: str = "", scenario: str = "") -> tuple[list, int]:
    """The first quick replies matching, filled in, and how many match in all (a phone shows a handful)."""
    items = quick_replies.search(quick_replies.for_operator(operator), q=q, scenario=scenario)
    shown = quick_replies.filled(items[:QUICK_REPLIES_SHOWN], operator=operator, customer=customer)
    return shown, len(shown) if len(shown) < QUICK_REPLIES_SHOWN else items.count()


def sendable_item(operator: Operator, item_id) -> ContentItem | None:
    """An approved item this operator may send into a chat (a quick reply or mass content), or None."""
    if not str(item_id).isdecimal():
        return None
    return quick_replies.for_operator(operator, uses=quick_replies.RECOMMENDABLE_USES).filter(pk=int(item_id)).first()


def recent_messages(operator: Operator, customer: Customer) -> list[ChatMessage]:
    return list(
        ChatMessage.objects.filter(operator=operator, customer=customer)
        .select_related("content_version__item")
        .order_by("-sent_at", "-pk")[:RECENT_MESSAGES]
    )
