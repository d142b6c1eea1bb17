"""Building blocks of the supervision tests: touches and facts at given China-time instants."""

import datetime as dt
import itertools
from decimal import Decimal

from django.utils import timezone

from campaigns.delivery.models import ChatMessage, Delivery, OperatorTask, SendTask
from campaigns.links.models import LinkClick, TrackedLink
from integrations.bank.models import ProductPurchase
from tagging.models import Product

_serial = itertools.count(1)


def local(year, month, day, hour=0, minute=0, second=0) -> dt.datetime:
    return timezone.make_aware(dt.datetime(year, month, day, hour, minute, second), timezone.get_default_timezone())


def content_version(bank):
    from tests.playbook_helpers import approved_content

    return approved_content(bank).versions.get()


def send_task(operator, version, *, submitted_at, confirmed_at=None, delivered=(), failed=()) -> SendTask:
    """A mass send of `operator`, with delivered (and failed) deliveries to the given customers."""
    n = next(_serial)
    task = SendTask.objects.create(
        source_kind="test",
        source_id=n,
        step_key="s1",
        sender=operator,
        content_version=version,
        recipients=len(delivered) + len(failed),
        status=SendTask.Status.DONE if confirmed_at else SendTask.Status.SUBMITTED,
        marker=f"m{n:08d}",
        submitted_at=submitted_at,
        confirmed_at=confirmed_at,
        deadline_at=submitted_at + dt.timedelta(hours=12),
    )
    for customer, status in [(c, Delivery.Status.DELIVERED) for c in delivered] + [
        (c, Delivery.Status.FAILED) for c in failed
    ]:
        delivery(operator, version, customer, at=confirmed_at or submitted_at, status=status, task=task)
    return task


def delivery(operator, version, customer, *, at, status=Delivery.Status.DELIVERED, task=None) -> Delivery:
    return Delivery.objects.create(
        source_kind="test",
        source_id=task.source_id if task else next(_serial),
        step_key="s1",
        customer=customer,
        sender=operator,
        content_version=version,
        status=status,
        due_at=at - dt.timedelta(minutes=5),
        send_task=task,
        result_at=at,
    )


def operator_task(operator, customer=None, *, due_at, done_at=None, status=None) -> OperatorTask:
    status = status or (OperatorTask.Status.DONE if done_at else OperatorTask.Status.OPEN)
    return OperatorTask.objects.create(
        customer=customer,
        operator=operator,
        kind=OperatorTask.Kind.CALL,
        title="回访",
        due_at=due_at,
        original_due_at=due_at,
        status=status,
        done_at=done_at,
        source_kind="test",
        source_id=next(_serial),
        step_key="s1",
    )


def chat(operator, customer, *, at) -> ChatMessage:
    return ChatMessage.objects.create(operator=operator, customer=customer, text="您好", sent_at=at)


def link(sender=None) -> TrackedLink:
    n = next(_serial)
    return TrackedLink.objects.create(
        token=f"t{n:010d}", key=f"k{n}", url="https://bank.example/p", sender=sender, context="playbook"
    )


def click(tracked: TrackedLink, *, at, customer=None) -> LinkClick:
    made = LinkClick.objects.create(link=tracked, customer=customer, visitor=f"v{next(_serial)}")
    LinkClick.objects.filter(pk=made.pk).update(clicked_at=at)  # auto_now_add: set the instant afterwards
    return made


def purchase(customer, *, at, amount="10000.00") -> ProductPurchase:
    product, _ = Product.objects.get_or_create(code="WM-090", defaults={"name": "90天理财", "category": "wealth"})
    return ProductPurchase.objects.create(
        customer=customer, product=product, amount=Decimal(amount), purchased_at=at, reference=f"R{next(_serial)}"
    )
