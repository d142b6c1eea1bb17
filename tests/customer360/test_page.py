"""The customer 360 page: every section shows the customer's own rows, masked by role, and stays within budget."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.delivery.models import ChatMessage
from campaigns.playbooks.enrol import enrol
from campaigns.playbooks.models import PlaybookVersion
from tagging import customer360
from tagging.models import CustomerEvent
from tagging.segments import bitmaps
from tagging.segments import services as segment_services
from tests.customer360.support import touched_customer
from tests.factories import FollowFactory
from tests.playbook_helpers import publish

C360_MAX_QUERIES = 35


def _page(client, customer, **params):
    response = client.get(reverse("customers:detail", args=[customer.pk]), params)
    assert response.status_code == 200
    return response


def test_every_section_shows_the_customers_own_rows(bank, login):
    customer = touched_customer(bank)
    response = _page(login("operator_a"), customer)
    body = response.content.decode()
    kinds = {touch.kind for touch in response.context["timeline"]}
    assert {
        "mass_message",
        "operator_task",
        "chat_message",
        "link_click",
        "contact_held",
        "tag_added",
        "note",
        "follow_added",
    } <= kinds
    for text in (
        "代发工资到账提醒",
        "回访理财到期",
        "您好，工资已到账",
        "有理财意向",
        "客户说下月有一笔定期到期",
        "稳享360天",
        "网点海报码",
    ):
        assert text in body, text
    assert "138****5678" in body and "13812345678" not in body  # masked for an operator
    history = response.context["tag_history"]
    assert [(c.tag.name, c.action, c.source) for c in history] == [("有理财意向", "added", "manual")]
    purchase = response.context["purchases"][0]
    assert purchase.attribution.operator.name == "赵甲" and "赵甲 · " in body
    assert [task.title for task in response.context["open_tasks"]] == ["回访理财到期"]
    assert [d.content_version.item.title for d in response.context["planned"]] == ["代发工资到账提醒"]
    follow = next(f for f in response.context["follows"] if f.operator.name == "赵甲")
    assert follow.channel_add.code.name == "网点海报码"


def test_nothing_of_another_customer_shows(bank, login):
    touched_customer(bank)
    other = bank.customers["a_followed"]
    response = _page(login("operator_a"), other)
    body = response.content.decode()
    for text in ("回访理财到期", "您好，工资已到账", "客户说下月有一笔定期到期", "稳享360天", "网点海报码"):
        assert text not in body, text
    assert response.context["tag_history"] == []


@pytest.mark.parametrize("built", [True, False])
def test_segments_the_customer_is_in(bank, login, built):
    customer = bank.customers["a_own"]
    everyone = {"match": "all", "rules": [{"field": "aum", "op": "gte", "value": "0"}]}
    retirees = {"match": "all", "rules": [{"field": "occupation_group", "op": "in", "value": ["retiree"]}]}
    segment_services.segment_create(name="全部客户", condition=everyone, owner=bank.user("operator_a"))
    segment_services.segment_create(name="退休客群", condition=retirees, owner=None, shared=True)
    segment_services.segment_create(name="别人的私有分群", condition=everyone, owner=bank.user("operator_b"))
    if built:
        bitmaps.bitmaps_rebuild_attributes()
        bitmaps.bitmaps_rebuild_tags()
    membership = _page(login("operator_a"), customer).context["segments"]
    assert [segment.name for segment in membership.segments] == ["全部客户"]
    assert membership.checked == 2  # the other operator's private segment is not even looked at
    assert (membership.built_at is not None) is built


def test_playbooks_with_the_step_and_next_run(bank, login):
    customer = bank.customers["a_own"]
    playbook = publish(bank, trigger={"type": "new_contact"}, steps=[{"type": "delay", "days": 2}], name="新客欢迎")
    version = PlaybookVersion.objects.get(pk=playbook.live_version_id)
    assert enrol(version, [(customer.pk, "test", timezone.now())]) == [customer.pk]
    response = _page(login("operator_a"), customer)
    [row] = response.context["journeys"]
    assert row.enrolment.playbook.name == "新客欢迎" and row.enrolment.state == "active"
    assert row.step_label and "新客欢迎" in response.content.decode()


def test_timeline_pages_cover_every_touch_once_in_order(bank, login):
    customer = bank.customers["a_own"]
    operator = bank.operators["operator_a"]
    base = timezone.now() - dt.timedelta(days=3)
    same_instant = base + dt.timedelta(hours=1)
    notes = [
        CustomerEvent(
            customer=customer,
            occurred_at=base + dt.timedelta(minutes=i),
            kind="note",
            summary=f"备注{i}",
            operator=operator,
        )
        for i in range(45)
    ]
    notes += [
        CustomerEvent(customer=customer, occurred_at=same_instant, kind="note", summary=f"同刻{i}") for i in range(40)
    ]
    CustomerEvent.objects.bulk_create(notes)
    ChatMessage.objects.bulk_create(
        [ChatMessage(customer=customer, operator=operator, text=f"消息{i}", sent_at=same_instant) for i in range(5)]
    )
    seen, times, cursor, pages = [], [], None, 0
    while True:
        page = customer360.timeline_page(customer, cursor=cursor, size=30)
        seen += [(touch.kind, touch.order) for touch in page]
        times += [touch.at for touch in page]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    total = 45 + 40 + 5 + 1  # notes, same-instant notes, messages, and a_own's follow of operator_a
    assert len(seen) == len(set(seen)) == total
    assert times == sorted(times, reverse=True)  # newest first across the page boundaries too
    assert pages == 4
    client = login("operator_a")
    first = _page(client, customer)
    assert first.context["timeline"].next_cursor
    fragment = client.get(
        reverse("customers:detail", args=[customer.pk]),
        {"before": first.context["timeline"].next_cursor},
        HTTP_HX_REQUEST="true",
    )
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert 'id="timeline-more"' in fragment.content.decode()


@pytest.mark.parametrize("cursor", ["garbage", "2026-01-01T00:00:00|x", "2026-01-01T00:00:00|99999999", "2026-01-01|1"])
def test_a_forged_cursor_starts_from_the_top(bank, login, cursor):
    customer = bank.customers["a_own"]
    assert customer360.parse_cursor(cursor) == (None, 0)
    assert _page(login("operator_a"), customer, before=cursor).context["timeline"].touches


def test_page_queries_do_not_grow_with_the_customers_history(bank, login):
    customer = touched_customer(bank)
    client = login("operator_a")
    client.get(reverse("customers:detail", args=[customer.pk]))

    def count():
        with CaptureQueriesContext(connection) as queries:
            _page(client, customer)
        return len(queries)

    few = count()
    touched_customer_more(bank, customer)
    assert count() == few
    assert few <= C360_MAX_QUERIES, few


def touched_customer_more(bank, customer):
    operator = bank.operators["operator_a"]
    now = timezone.now()
    CustomerEvent.objects.bulk_create(
        [
            CustomerEvent(
                customer=customer,
                occurred_at=now - dt.timedelta(minutes=i),
                kind="note",
                summary=f"更多{i}",
                operator=operator,
            )
            for i in range(80)
        ]
    )
    ChatMessage.objects.bulk_create(
        [ChatMessage(customer=customer, operator=operator, text=f"更多消息{i}") for i in range(40)]
    )
    for persona in ("operator_a2", "lead_a"):
        FollowFactory(customer=customer, operator=bank.operators[persona])
