"""A customer with a bit of everything, for the customer 360 tests: a_own of the persona bank (operator_a's)."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from campaigns.channels.models import ChannelAdd, ChannelCode
from campaigns.delivery.models import ChatMessage, Delivery, OperatorTask, Suppression
from campaigns.links.models import LinkClick, TrackedLink
from integrations.bank.models import ProductPurchase
from tagging.models import CustomerEvent, FollowRelationship, Product, Tag, TagGroup
from tagging.tags.services import customer_tag_add_by_hand
from tests.campaigns_support import approved, seed_words
from workbench.supervision.models import Attribution


def manual_tag(name: str = "有理财意向") -> Tag:
    group, _ = TagGroup.objects.get_or_create(name="客户意向")
    return Tag.objects.create(group=group, name=name, kind=Tag.Kind.MANUAL)


def touched_customer(bank):
    """a_own with one of every touch, an hour apart, and a purchase attributed to operator_a."""
    seed_words()
    customer, operator = bank.customers["a_own"], bank.operators["operator_a"]
    now = timezone.now()
    version = approved(bank, title="代发工资到账提醒", author="admin").current
    Delivery.objects.create(
        source_kind="broadcast",
        source_id=5,
        step_key="send",
        customer=customer,
        sender=operator,
        content_version=version,
        status="delivered",
        due_at=now - dt.timedelta(hours=1),
        result_at=now - dt.timedelta(hours=1),
    )
    Delivery.objects.create(
        source_kind="broadcast",
        source_id=6,
        step_key="send",
        customer=customer,
        sender=operator,
        content_version=version,
        status="planned",
        due_at=now + dt.timedelta(days=1),
    )
    OperatorTask.objects.create(
        customer=customer,
        operator=operator,
        kind="call",
        title="回访理财到期",
        due_at=now + dt.timedelta(hours=3),
        original_due_at=now + dt.timedelta(hours=3),
        source_kind="test",
        source_id=1,
        step_key="call",
    )
    ChatMessage.objects.create(
        customer=customer, operator=operator, text="您好，工资已到账", sent_at=now - dt.timedelta(hours=3)
    )
    link = TrackedLink.objects.create(
        token="tok360",
        key="key360",
        url="https://example.com/p",
        version=version,
        sender=operator,
        customer=customer,
        context="playbook",
    )
    LinkClick.objects.create(link=link, customer=customer, visitor="v1")
    Suppression.objects.create(
        customer=customer, action="suppressed", reason="cap_week", source_kind="broadcast", source_id=7, step_key="send"
    )
    customer_tag_add_by_hand(customer=customer, tag=manual_tag(), actor=bank.user("operator_a"))
    CustomerEvent.objects.create(
        customer=customer,
        occurred_at=now - dt.timedelta(hours=5),
        kind="note",
        summary="客户说下月有一笔定期到期",
        operator=operator,
    )
    product = Product.objects.create(code="WM-360", name="稳享360天", category="wealth")
    purchase = ProductPurchase.objects.create(
        customer=customer,
        product=product,
        amount=Decimal("50000"),
        purchased_at=now - dt.timedelta(minutes=30),
        reference="P360-1",
    )
    Attribution.objects.create(
        purchase=purchase,
        customer=customer,
        operator=operator,
        touch_kind="delivery",
        touched_at=now - dt.timedelta(hours=1),
        amount=purchase.amount,
        purchased_at=purchase.purchased_at,
        window_days=7,
    )
    code = ChannelCode.objects.create(name="网点海报码", state="st360", created_by=bank.user("admin"))
    follow = FollowRelationship.objects.get(customer=customer, operator=operator, deleted_at__isnull=True)
    ChannelAdd.objects.create(code=code, follow=follow, customer=customer, operator=operator, added_at=follow.added_at)
    return customer
