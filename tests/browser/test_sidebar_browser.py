"""The WeCom chat sidebar in a phone-sized window, driven the way a person tries it in the demo:

the sandbox page's 「打开聊天工具栏」 → silent OAuth as the member → the emulated JS-SDK names the chat's customer →
tag the customer → send a quick reply into the chat → the 1:1 touch is on the customer page in the workbench.
"""

import re

import pytest
import requests
from playwright.sync_api import expect

from campaigns.content.models import Scenario
from campaigns.delivery.models import ChatMessage
from tagging.models import TagChange, TagPush
from tagging.tags import services as tag_services
from tests.browser.conftest import PASSWORD
from tests.sidebar.support import approved_item, seed_sandbox_from_bank
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures
from workbench.org.roles import Role
from workbench.org.services import operator_create

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def chat_ready(browser_bank, sandbox, settings, live_server):  # noqa: F811
    """The sandbox mirrors the bank; the workbench's WeCom settings point at it; content and a tag exist."""
    base = live_server.url.replace("localhost", "127.0.0.1")  # one host for both: the sandbox's cookie is same-site
    settings.WECOM_OAUTH_AUTHORIZE_URL = f"{sandbox.url}/connect/oauth2/authorize"
    settings.WECOM_JSSDK_URL = f"{sandbox.url}/jssdk/jwxwork.js"
    sandbox.settings(sidebar_url=f"{base}/sidebar/")
    seed_sandbox_from_bank(sandbox)
    reviewer = operator_create(
        name="冯合规", branch=browser_bank.branches["head"], role=Role.COMPLIANCE_REVIEWER, username="reviewer",
        password=PASSWORD, title="合规审核",
    )  # fmt: skip
    admin = browser_bank.operators["admin"].user
    reply = approved_item(
        author=admin, reviewer=reviewer.user, title="代发日问候", scenario=Scenario.PAYROLL,
        text="{{salutation}}您好，我是{{branch_name}}的客户经理{{operator_name}}。本月工资已到账，祝您工作顺利！",
    )  # fmt: skip
    approved_item(
        author=admin, reviewer=reviewer.user, title="验证码不外泄", scenario=Scenario.ANTI_FRAUD,
        text="{{salutation}}，银行工作人员不会索要验证码。",
    )  # fmt: skip
    approved_item(author=admin, reviewer=reviewer.user, title="待审的话术", text="还没审完", approve=False)
    tag = tag_services.tag_create(group=tag_services.tag_group_create(name="客户意向"), name="有理财意向")
    return {"base": base, "reply": reply, "tag": tag}


def test_open_the_sidebar_tag_and_send_a_quick_reply(
    chat_ready,
    browser_bank,
    sandbox,  # noqa: F811 - the fixture
    chromium,
    screenshot,
    login_as,
    new_page,
    live_server,
):
    customer = browser_bank.customers["target"]
    context = chromium.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", is_mobile=True)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(f"{sandbox.url}/sandbox/")
        form = page.locator('[data-testid="open-sidebar"]')
        form.locator("select[name=userid]").select_option("wx_operator")
        form.locator("select[name=external_userid]").select_option(customer.external_userid)
        screenshot(page, "sidebar-0-sandbox-form")
        with page.expect_popup() as opened:
            form.get_by_role("button", name="打开聊天工具栏").click()
        sidebar = opened.value
        card = sidebar.locator('[data-testid="sidebar-customer"]')
        expect(card).to_contain_text("周慧敏")
        expect(card).to_contain_text("138****5678")
        assert "13812345678" not in sidebar.content()
        expect(sidebar.locator('[data-testid="sidebar-recommended"]')).to_contain_text("周女士您好，我是文三路网点")
        expect(sidebar.locator('[data-testid="sidebar-quick-replies"]')).not_to_contain_text("待审的话术")
        screenshot(sidebar, "sidebar-1-opened")

        tags = sidebar.locator('[data-testid="sidebar-tags"]')
        tags.locator("select[name=tag]").select_option(label="有理财意向")
        tags.get_by_role("button", name="添加标签").click()
        expect(sidebar.locator('[data-testid="sidebar-tags"] .sb-tag')).to_contain_text("有理财意向")
        assert TagChange.objects.filter(customer=customer, tag=chat_ready["tag"]).count() == 1
        assert TagPush.objects.filter(tag=chat_ready["tag"], follow__customer=customer).exists()

        search = sidebar.locator('[data-testid="sidebar-quick-replies"] input[name=q]')
        search.fill("工资")
        replies = sidebar.locator("#sb-replies [data-testid=sidebar-reply]")
        expect(replies).to_have_count(1)
        replies.first.get_by_role("button", name="发送").click()
        expect(sidebar.locator("#sb-status")).to_contain_text("已发送")
        expect(sidebar.locator('[data-testid="sidebar-sent"]')).to_contain_text("代发日问候")
        screenshot(sidebar, "sidebar-2-sent", full_page=False)  # what the operator sees where they pressed 发送
    finally:
        context.close()

    message = ChatMessage.objects.get(customer=customer)
    assert message.operator == browser_bank.operators["operator"]
    assert message.content_version == chat_ready["reply"].current
    assert message.text.startswith("周女士您好，我是文三路网点的客户经理张晓明。")
    [in_chat] = sandbox.received()["chat_messages"]
    assert in_chat["body"]["text"]["content"] == message.text and in_chat["userid"] == "wx_operator"
    assert "周女士您好，我是文三路网点" in requests.get(f"{sandbox.url}/sandbox/", timeout=10).text

    # The touch on the customer page of the workbench.
    workbench = login_as(new_page(), "operator")
    workbench.goto(f"{live_server.url}/customers/{customer.pk}/")
    expect(workbench.locator("body")).to_contain_text(re.compile("代发日问候.*周女士您好"))
    screenshot(workbench, "sidebar-3-customer-page")

    # The quick-reply page (话术库), filled in for the same customer; the unapproved one is not there.
    workbench.goto(f"{live_server.url}/content/quick-replies/?customer={customer.pk}")
    listed = workbench.locator('[data-testid="quick-reply"]')
    expect(listed).to_have_count(2)
    expect(listed.first).to_contain_text("周女士")
    expect(workbench.locator("body")).not_to_contain_text("待审的话术")
    screenshot(workbench, "sidebar-5-quick-replies")


def test_a_customer_the_member_does_not_follow_is_refused(chat_ready, browser_bank, sandbox, chromium, screenshot):  # noqa: F811
    """With the sidebar open for one of their chats, the member's browser asks for another branch's customer (a
    forged or stale request): 403, and nothing about that customer is shown."""
    other = browser_bank.customers["other_branch"]
    context = chromium.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(f"{sandbox.url}/sandbox/")
        form = page.locator('[data-testid="open-sidebar"]')
        form.locator("select[name=userid]").select_option("wx_operator")
        form.locator("select[name=external_userid]").select_option(browser_bank.customers["target"].external_userid)
        with page.expect_popup() as opened:
            form.get_by_role("button", name="打开聊天工具栏").click()
        sidebar = opened.value
        expect(sidebar.locator('[data-testid="sidebar-customer"]')).to_contain_text("周慧敏")
        # The page asks for a customer operator does not follow: refused, nothing about them shown.
        ask = "url => fetch(url, {headers: {'HX-Request': 'true'}}).then(r => r.text().then(t => [r.status, t]))"
        status, _body = sidebar.evaluate(ask, f"{chat_ready['base']}/sidebar/chat/?external_userid=wmNOTFOLLOWED")
        assert status == 403
        status, body = sidebar.evaluate(ask, f"{chat_ready['base']}/sidebar/customers/{other.pk}/")
        assert status == 403 and "钱永康" not in body and "NB0000000201" not in body
        sidebar.goto(f"{chat_ready['base']}/sidebar/customers/{other.pk}/")
        expect(sidebar.locator('[data-testid="sidebar-refused"]')).to_be_visible()
        screenshot(sidebar, "sidebar-4-refused")
    finally:
        context.close()
