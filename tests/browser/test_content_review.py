"""In a real browser: a branch manager writes content (live preview, sensitive words highlighted), submits it;
a compliance reviewer approves it; a head-office admin makes a channel code welcoming with it (WeCom sandbox)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.channels.models import ChannelCode
from campaigns.content.models import ContentCategory, ContentItem, ContentVersion
from tagging.models import AddWay, FollowRelationship
from tests.browser.conftest import PASSWORD
from tests.campaigns_support import corp, seed_words
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401
from workbench.org.roles import Role
from workbench.org.services import operator_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reviewer(browser_bank):
    seed_words()  # the migration's data, which an earlier transactional test may have flushed
    ContentCategory.objects.get_or_create(name="欢迎语")
    return operator_create(
        name="冯合规",
        branch=browser_bank.branches["head"],
        role=Role.COMPLIANCE_REVIEWER,
        wecom_userid="wx_reviewer",
        username="reviewer",
        password=PASSWORD,
        title="合规审核员",
    )


def test_content_is_written_reviewed_approved_and_welcomes_through_a_channel_code(
    live_server,
    browser_bank,
    reviewer,
    new_page,
    login_as,
    screenshot,
    sandbox,  # noqa: F811 - the fixture imported above
    settings,
):
    # The branch manager writes content; the phone preview follows the text and marks a sensitive word.
    author = login_as(new_page(), "manager")
    author.goto(f"{live_server.url}/content/new")
    author.locator("#id_title").fill("新客户欢迎语")
    author.locator("#id_use").select_option("welcome")
    author.locator("#id_category").select_option(label="欢迎语")
    text = author.locator("#id_text")
    text.fill("")
    author.locator("button.chip[data-token='{{salutation}}']").click()
    text.press("End")
    text.type("您好！我是{{operator_name}}，本行理财保本高收益，")
    phone = author.locator("#preview [data-testid=phone-preview]")
    expect(phone.locator("mark.sensitive")).to_have_text("保本")
    expect(phone.locator("[data-testid=bubble]")).to_contain_text("王女士您好！我是张晓明")
    expect(author.locator("#preview [data-testid=sensitive-hits]")).to_contain_text("保本")
    screenshot(author, "content-01-editor")

    author.get_by_test_id("save-content").click()
    expect(author).to_have_url(re.compile(r"/content/\d+/edit$"))
    item = ContentItem.objects.get(title="新客户欢迎语")
    expect(author.get_by_test_id("submit-for-review")).to_be_disabled()  # saved, but it cannot be submitted

    author.locator("#id_text").fill(
        "{{salutation}}您好！我是{{operator_name}}，很高兴为您服务。理财有风险，投资须谨慎。"
    )
    expect(author.locator("#preview mark.sensitive")).to_have_count(0)
    author.get_by_test_id("save-content").click()
    author.get_by_test_id("submit-for-review").click()
    expect(author.get_by_test_id("open-status")).to_contain_text("v1")
    assert item.versions.get().status == ContentVersion.Status.SUBMITTED
    assert author.goto(f"{live_server.url}/content/review/").status == 403  # authors do not review

    # The compliance reviewer finds it in the queue and approves it.
    checker = login_as(new_page(), "reviewer")
    checker.goto(f"{live_server.url}/content/review/")
    queue = checker.get_by_test_id("review-queue")
    expect(queue).to_contain_text("新客户欢迎语")
    screenshot(checker, "content-02-review-queue")
    queue.get_by_role("link").first.click()
    expect(checker.locator("[data-testid=bubble]")).to_contain_text("很高兴为您服务")
    checker.get_by_test_id("reject").click()  # without a reason: refused, the form says why
    expect(checker.locator(".field-error")).to_be_visible()
    screenshot(checker, "content-03-review")
    checker.get_by_test_id("approve").click()
    expect(checker).to_have_url(f"{live_server.url}/content/review/")
    item.refresh_from_db()
    assert item.current is not None and item.current.reviewed_by.username == "reviewer"
    checker.goto(f"{live_server.url}/content/{item.pk}/")
    expect(checker.get_by_test_id("in-use")).to_be_visible()
    expect(checker.get_by_test_id("history")).to_contain_text("reviewer")

    # The head-office admin makes a channel code that welcomes with it; WeCom (the sandbox) issues the QR code.
    corp(sandbox, [operator.wecom_userid for operator in browser_bank.operators.values()])
    admin = login_as(new_page(), "admin")
    admin.goto(f"{live_server.url}/channels/new")
    admin.locator("#id_name").fill("文三路网点柜台")
    admin.locator("#id_operators").get_by_label(re.compile("张晓明")).check()
    admin.locator("#id_daily_cap").fill("50")
    admin.locator("#id_welcome_item").select_option(str(item.pk))
    admin.get_by_test_id("save-channel").click()
    expect(admin).to_have_url(re.compile(r"/channels/\d+/$"))
    code = ChannelCode.objects.get()
    assert code.sync == ChannelCode.Sync.SYNCED and code.welcome_item == item
    expect(admin.get_by_test_id("sync-status")).to_be_visible()
    # WeCom (the sandbox) hands out the QR code as an image, which the page shows and offers for download.
    expect(admin.get_by_test_id("qr-image")).to_be_visible()
    admin.wait_for_function("() => document.querySelector('[data-testid=qr-image]').naturalWidth > 0")
    expect(admin.get_by_test_id("qr-link")).to_be_hidden()
    screenshot(admin, "content-04-channel-code")
    admin.goto(f"{live_server.url}/channels/")
    expect(admin.get_by_test_id("channel-codes")).to_contain_text("文三路网点柜台")
    # Customers came through it (as the callbacks record them): the report shows them per channel and operator.
    now = timezone.now()
    for number, kept in (("HZ0000000104", None), ("HZ0000000105", 2), ("other_branch", None)):
        customer = browser_bank.customers[number]
        FollowRelationship.objects.create(
            customer=customer,
            operator=customer.owner,
            added_at=now - timedelta(days=5),
            add_way=AddWay.QR_CODE,
            state=code.state,
            deleted_at=now - timedelta(days=5 - kept) if kept else None,
            deleted_by=FollowRelationship.DeletedBy.CUSTOMER if kept else "",
        )
    admin.goto(f"{live_server.url}/channels/report/")
    expect(admin.get_by_test_id("total-adds")).to_have_text("3")
    expect(admin.get_by_test_id("by-operator")).to_contain_text("李文静")
    screenshot(admin, "content-05-channel-report")
    manager = login_as(new_page(), "manager")  # 杭州分行: 宁波's operator is not in their report
    manager.goto(f"{live_server.url}/channels/report/")
    expect(manager.get_by_test_id("total-adds")).to_have_text("2")
    expect(manager.get_by_test_id("by-operator")).not_to_contain_text("李文静")
