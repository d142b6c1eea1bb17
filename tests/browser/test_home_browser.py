"""The operator's home page and the customer 360 in a real browser (laptop size): see today's items, mark a task
done, open the customer and add a note."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.content import services as content_services
from campaigns.content.models import ContentItem
from campaigns.delivery.models import ChatMessage, Delivery, OperatorTask, SendTask
from campaigns.delivery.services import create_operator_task
from campaigns.playbooks import services as playbook_services
from campaigns.playbooks.enrol import enrol
from campaigns.playbooks.models import PlaybookVersion
from integrations.bank.models import PayrollCredit, ProductPurchase
from tagging.models import CustomerEvent, Product
from tagging.segments.services import segment_create
from tests.campaigns_support import seed_words
from workbench.supervision.models import Attribution

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/home")  # noqa: S108 - screenshots for a person to look at, nothing is read back


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _day(bank) -> dict:
    operator = bank.operators["operator"]
    target = bank.customers["target"]
    now = timezone.now()
    due = timezone.localtime(now).replace(hour=23, minute=30)
    made = {
        "call": create_operator_task(customer_id=target.pk, kind="call", title="回访稳享理财到期续作", due_at=due,
                                     script="您好，您的稳享180天理财即将到期……", source_kind="browser", source_id=1,
                                     step_key="call"),
        "overdue": create_operator_task(customer_id=bank.customers["HZ0000000102"].pk, kind="message",
                                        title="发送工资到账关怀", due_at=now - dt.timedelta(hours=3),
                                        source_kind="browser", source_id=1, step_key="msg"),
    }  # fmt: skip
    seed_words()
    admin = bank.operators["admin"].user
    item = content_services.content_create(actor=admin, title="代发工资到账提醒", use=ContentItem.Use.MASS,
                                           text="您好，工资已到账。")  # fmt: skip
    version = content_services.content_submit(version=item.versions.get(), actor=admin)
    SendTask.objects.create(source_kind="broadcast", source_id=31, step_key="send", sender=operator,
                            content_version=version, recipients=120, accepted=118, status="submitted",
                            marker="brw0000001", msgid="msgbrw1", submitted_at=now - dt.timedelta(minutes=40),
                            deadline_at=timezone.localtime(now).replace(hour=23, minute=59))  # fmt: skip
    PayrollCredit.objects.create(customer=bank.customers["HZ0000000104"], employer="杭州海康智造有限公司",
                                 amount=Decimal("12600.00"), credit_date=timezone.localdate())  # fmt: skip
    OperatorTask.objects.filter(pk=made["overdue"].pk).update(last_reminded_at=now - dt.timedelta(hours=2))
    _history(bank, version, now)
    return made


def _history(bank, version, now) -> None:
    """The target's 360 gets a delivered message, a click, a 1:1 message, a purchase credited to the operator,
    a segment and a playbook journey, so the page's screenshot shows every section filled."""
    operator, target = bank.operators["operator"], bank.customers["target"]
    Delivery.objects.create(source_kind="broadcast", source_id=30, step_key="send", customer=target, sender=operator,
                            content_version=version, status="delivered", due_at=now - dt.timedelta(days=2),
                            result_at=now - dt.timedelta(days=2))  # fmt: skip
    ChatMessage.objects.create(customer=target, operator=operator, text="周女士您好，稳享理财下周到期，可以帮您续作。",
                               sent_at=now - dt.timedelta(hours=20))  # fmt: skip
    product = Product.objects.get(code="WM-180")
    purchase = ProductPurchase.objects.create(customer=target, product=product, amount=Decimal("150000.00"),
                                              purchased_at=now - dt.timedelta(days=100), reference="BRW-P1",
                                              channel="手机银行")  # fmt: skip
    Attribution.objects.create(purchase=purchase, customer=target, operator=operator, touch_kind="chat",
                               touched_at=purchase.purchased_at - dt.timedelta(days=1), amount=purchase.amount,
                               purchased_at=purchase.purchased_at, window_days=7)  # fmt: skip
    segment_create(name="高净值白领", owner=operator.user, shared=False,
                   condition={"match": "all", "rules": [{"field": "aum", "op": "gte", "value": "100000"}]})  # fmt: skip
    admin = bank.operators["admin"].user
    playbook = playbook_services.playbook_create(name="理财到期续作关怀", actor=admin, draft={
        "trigger": {"type": "new_contact"}, "audience": [], "exits": [], "reentry": "never", "cooldown_days": 30,
        "steps": [{"key": "s1", "type": "delay", "days": 3}, {"key": "s2", "type": "task", "kind": "call",
                   "title": "电话沟通续作", "due_hours": 4}],
    })  # fmt: skip
    playbook_services.playbook_publish(playbook=playbook, actor=admin)
    playbook.refresh_from_db()
    enrol(PlaybookVersion.objects.get(pk=playbook.live_version_id), [(target.pk, "browser", now)])


def test_operator_works_through_the_day(live_server, browser_bank, new_page, login_as):
    tasks = _day(browser_bank)
    page = new_page()
    login_as(page, "operator")

    # The home page: today's tasks, the mass send to confirm with its how-to, salary, reminders.
    expect(page.locator("h1")).to_have_text("张晓明，您好")
    tasks_card = page.locator("#today-tasks")
    expect(tasks_card).to_contain_text("回访稳享理财到期续作")
    expect(tasks_card).to_contain_text("发送工资到账关怀")
    expect(tasks_card).to_contain_text("已逾期")
    expect(page.locator("#today-mass-sends")).to_contain_text("代发工资到账提醒")
    expect(page.locator("#today-mass-sends")).to_contain_text("群发助手")
    expect(page.locator("#today-attention")).to_contain_text("孙志强")  # salary credited today
    expect(page.locator("#today-reminders")).to_contain_text("提醒")
    assert "钱永康" not in page.content()  # the other branch's customer
    _shot(page, "01-home")

    # Mark the call done in one click: htmx swaps the row, the page does not reload.
    page.evaluate("window.__samePage = true")
    row = page.locator(f"#task-{tasks['call'].pk}")
    row.get_by_role("button", name="标记完成").click()
    done_row = page.locator(f"#task-{tasks['call'].pk}")
    expect(done_row.get_by_role("button", name="标记完成")).to_have_count(0)  # swapped for the done row
    expect(done_row.locator(".badge-green")).to_have_text("已完成")
    assert page.evaluate("window.__samePage") is True
    assert OperatorTask.objects.get(pk=tasks["call"].pk).status == "done"
    _shot(page, "02-home-task-done")

    # One click from the task to the customer 360; add a note there.
    page.get_by_role("link", name="周慧敏").first.click()
    expect(page.locator("h1")).to_have_text("周慧敏")
    expect(page.locator("#c360-timeline")).to_contain_text("电话回访：对稳享理财到期续作有意向")
    expect(page.locator("#c360-tasks")).to_contain_text("新建任务")
    expect(page.locator("#c360-journeys")).to_contain_text("理财到期续作关怀")
    expect(page.locator("#c360-segments")).to_contain_text("高净值白领")
    expect(page.locator("#c360-purchases")).to_contain_text("张晓明")
    expect(page.locator("#c360-timeline")).to_contain_text("稳享理财下周到期")
    _shot(page, "03-customer-360")
    page.get_by_label("备注记录", exact=True).fill("已电话确认：到期后续作稳享180天")
    page.get_by_role("button", name="添加备注").click()
    expect(page.locator("#c360-notes")).to_contain_text("备注已保存")
    expect(page.locator("#c360-notes")).to_contain_text("已电话确认：到期后续作稳享180天")
    assert CustomerEvent.objects.filter(kind="note", summary="已电话确认：到期后续作稳享180天").exists()
    _shot(page, "04-customer-360-note-added")

    # And a task for tomorrow, from the same page.
    page.locator("#c360-tasks summary").click()
    page.locator("#c360-tasks").get_by_label("任务标题").fill("寄送到期续作资料")
    page.get_by_role("button", name="创建任务").click()
    expect(page.locator("#c360-tasks")).to_contain_text("寄送到期续作资料")
    _shot(page, "05-customer-360-task-created")
