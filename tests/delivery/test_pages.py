"""Operator tasks (待办) and the engine's pages: 今日待办, done and postponed, the contact policy, do-not-disturb on
the customer page, the funnel per source."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.delivery import policy, selectors, services
from campaigns.delivery.models import ContactPolicy, Delivery, OperatorTask, SendTask, Suppression
from campaigns.links.models import LinkClick, TrackedLink
from integrations.bank.models import ProductPurchase
from tagging.models import FollowRelationship, Product
from tests.delivery.support import add_customers, mass_content
from workbench.audit.models import AuditEvent
from workbench.org.services import operator_resign
from workbench.supervision.attribution import attribute_new_purchases

pytestmark = pytest.mark.django_db


def _task(customer, *, title="电话回访", step="call", due=None, **kw):
    return services.create_operator_task(
        customer_id=customer.pk,
        kind=kw.pop("kind", "call"),
        title=title,
        script="您好，我是您的客户经理。",
        due_at=due or timezone.now(),
        source_kind="test",
        source_id=1,
        step_key=step,
        **kw,
    )


def test_an_operator_task_is_created_once_for_the_owner(bank):
    customer = bank.customers["a_own"]
    first = _task(customer)
    assert _task(customer, title="另一个标题") == first
    assert first.operator == bank.operators["operator_a"] and first.status == "open"
    assert OperatorTask.objects.count() == 1


def test_a_resigned_owner_passes_the_task_to_a_follower(bank):
    customer = bank.customers["a_followed"]  # owner operator_a2, operator_a follows too
    operator_resign(operator=bank.operators["operator_a2"])
    assert _task(customer).operator == bank.operators["operator_a"]


def test_nobody_to_do_it_is_refused(bank):
    with pytest.raises(services.DeliveryError):
        _task(bank.customers["unowned"])


def test_a_customer_in_do_not_disturb_gets_no_call(bank):
    customer = bank.customers["a_own"]
    policy.set_dnd(customer, True, reason="住院")
    task = _task(customer)
    assert task.status == "cancelled" and task.outcome_note
    assert Suppression.objects.get().reason == "dnd"


def test_today_lists_due_and_overdue_tasks_and_marks_them_done(bank, login):
    customer = bank.customers["a_own"]
    overdue = _task(customer, step="old", title="逾期的电话", due=timezone.now() - timedelta(hours=3))
    later = _task(customer, step="later", title="下周的拜访", due=timezone.now() + timedelta(days=7), kind="visit")
    client = login("operator_a")
    response = client.get(reverse("delivery:tasks-today"))
    assert [task.title for task in response.context["page"]] == ["逾期的电话"]
    assert response.context["summary"] == {"due": 1, "overdue": 1, "done": 0}
    body = response.content.decode()
    assert "逾期的电话" in body and "下周的拜访" not in body
    assert [t.title for t in client.get(reverse("delivery:tasks-today"), {"state": "upcoming"}).context["page"]] == [
        "下周的拜访"
    ]
    done = client.post(
        reverse("delivery:task-done", args=[overdue.pk]),
        {"outcome": "reached", "note": "约了周五面谈"},
        HTTP_HX_REQUEST="true",
    )
    assert done.status_code == 200 and "约了周五面谈" in done.content.decode()
    overdue.refresh_from_db()
    assert overdue.status == "done" and overdue.done_by == bank.user("operator_a") and overdue.done_at > overdue.due_at
    assert client.get(reverse("delivery:tasks-today")).context["summary"]["done"] == 1
    # Done once is done: a second answer is refused.
    again = client.post(
        reverse("delivery:task-done", args=[overdue.pk]), {"outcome": "reached"}, HTTP_HX_REQUEST="true"
    )
    assert again.status_code == 400
    until = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    postponed = client.post(reverse("delivery:task-postpone", args=[later.pk]), {"until": until})
    assert postponed.status_code == 302
    later.refresh_from_db()
    assert (
        later.status == "postponed"
        and later.postponed_count == 1
        and later.original_due_at < later.due_at + timedelta(days=7)
    )
    assert (
        client.post(reverse("delivery:task-postpone", args=[later.pk]), {"until": "2000-01-01T00:00"}).status_code
        == 302
    )
    later.refresh_from_db()
    assert later.postponed_count == 1  # a time in the past is refused


def test_leads_see_their_branch_and_filter_by_operator(bank, login):
    _task(bank.customers["a_own"], title="甲的任务")
    _task(bank.customers["a_followed"], title="甲二的任务", step="other")
    client = login("lead_a")
    everyone = client.get(reverse("delivery:tasks-today"))
    assert {t.title for t in everyone.context["page"]} == {"甲的任务", "甲二的任务"}
    one = client.get(reverse("delivery:tasks-today"), {"operator": bank.operators["operator_a2"].pk})
    assert [t.title for t in one.context["page"]] == ["甲二的任务"]


def test_the_contact_policy_page_refuses_caps_above_the_wecom_quota(bank, login):
    client = login("admin")
    form = {
        "cap_per_day": 2,
        "cap_per_week": 5,
        "cap_per_month": 10,
        "quiet_start": "21:30",
        "quiet_end": "08:30",
        "wecom_quota_mode": "1_per_day",
        "remind_after_minutes": 30,
        "stale_after_hours": 12,
        "conversion_window_days": 7,
    }
    refused = client.post(reverse("delivery:policy"), form)
    assert refused.status_code == 200 and "cap_per_day" in refused.context["form"].errors
    assert not ContactPolicy.objects.filter(cap_per_day=2).exists()
    saved = client.post(reverse("delivery:policy"), form | {"cap_per_day": 1})
    assert saved.status_code == 302
    rules = policy.get_policy()
    assert (rules.cap_per_day, rules.quiet_start.strftime("%H:%M"), rules.wecom_quota_mode) == (1, "21:30", "1_per_day")
    event = AuditEvent.objects.get(action="contact_policy_changed")
    assert event.detail["quiet_start"] == ["21:00:00", "21:30:00"]


def test_do_not_disturb_on_the_customer_page(bank, login):
    customer = bank.customers["a_own"]
    client = login("operator_a")
    page = client.get(reverse("customers:detail", args=[customer.pk]))
    assert reverse("delivery:customer-dnd", args=[customer.pk]) in page.content.decode()
    response = client.post(
        reverse("delivery:customer-dnd", args=[customer.pk]),
        {"on": "1", "reason": "客户来电要求"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "客户来电要求" in response.content.decode()
    assert policy.check([customer.pk], at=timezone.now(), priority=1).suppressed == {customer.pk: "dnd"}
    assert AuditEvent.objects.filter(action="contact_pref_changed", object_id=str(customer.pk)).exists()
    timeline = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "客户来电要求" in timeline
    client.post(reverse("delivery:customer-dnd", args=[customer.pk]), {"on": ""})
    assert not selectors.preference_of(customer).dnd
    assert login("reviewer").post(reverse("delivery:customer-dnd", args=[customer.pk]), {"on": "1"}).status_code == 403


def test_the_funnel_counts_each_step_for_a_source(bank, login):
    operator = bank.operators["operator_a"]
    version = mass_content(bank)
    customers = add_customers(operator, 5)
    FollowRelationship.objects.filter(customer=customers[4]).delete()
    services.plan_sends(
        customer_ids=[c.pk for c in customers],
        content_version=version,
        source_kind="broadcast",
        source_id=9,
        step_key="send",
        due_at=timezone.now(),
    )
    now = timezone.now()
    task = SendTask.objects.create(
        source_kind="broadcast",
        source_id=9,
        step_key="send",
        sender=operator,
        content_version=version,
        recipients=4,
        accepted=4,
        marker="0000000abc",
        deadline_at=now,
        msgid="msgFUNNEL",
        status="done",
        confirmed_at=now,
    )
    planned = Delivery.objects.filter(status="planned").order_by("customer_id")
    Delivery.objects.filter(pk__in=[d.pk for d in planned[:3]]).update(
        status="delivered", send_task=task, result_at=now - timedelta(days=1)
    )
    Delivery.objects.filter(pk=planned.last().pk).update(status="failed", reason="not_friend", send_task=task)
    link = TrackedLink.objects.create(
        token="tok1", key="k1", url="https://bank.example/", context="playbook", context_id=task.pk, sender=operator
    )
    LinkClick.objects.create(link=link, visitor="v1")
    LinkClick.objects.create(link=link, visitor="v1")
    LinkClick.objects.create(link=link, visitor="v2")
    product = Product.objects.create(code="W1", name="短期理财", category="wealth")
    ProductPurchase.objects.create(
        customer=customers[0], product=product, amount=Decimal("10000"), purchased_at=now, reference="r1"
    )
    ProductPurchase.objects.create(  # long before the message: not a conversion
        customer=customers[1],
        product=product,
        amount=Decimal("10000"),
        purchased_at=now - timedelta(days=30),
        reference="r2",
    )
    attribute_new_purchases()  # conversions by the one attribution rule (supervision's beat does this)
    funnel = services.delivery_funnel(source_kind="broadcast", source_id=9)
    expected = {"planned": 5, "suppressed": 1, "submitted": 4, "confirmed": 4, "delivered": 3, "failed": 1}
    assert {key: funnel[key] for key in expected} == expected
    assert (funnel["clicked"], funnel["converted"]) == (2, 1)
    assert funnel["reasons"] == {"suppressed:no_relationship": 1, "failed:not_friend": 1}
    page = login("admin").get(reverse("delivery:source", args=["broadcast", 9]))
    assert page.status_code == 200 and "msgFUNNEL" not in page.content.decode()
    assert page.context["funnel"]["delivered"] == 3
    fragment = login("operator_a").get(reverse("delivery:source-funnel", args=["broadcast", 9]))
    assert fragment.status_code == 200 and fragment.context["funnel"]["delivered"] == 3
    assert (
        login("operator_b").get(reverse("delivery:source-funnel", args=["broadcast", 9])).context["funnel"]["planned"]
        == 0
    )
    assert "broadcast #9" in login("admin").get(reverse("delivery:sources")).content.decode()
    timeline = login("operator_a").get(reverse("customers:detail", args=[customers[0].pk])).content.decode()
    assert version.item.title in timeline
