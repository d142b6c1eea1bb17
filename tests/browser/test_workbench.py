"""The workbench in a real browser: Chinese login, customer search through htmx, masked and revealed PII, scope."""

import re

import pytest
from django.template.loader import render_to_string
from django.utils import timezone, translation
from playwright.sync_api import expect

from workbench.audit.models import AuditAction, AuditEvent
from workbench.audit.services import audit_record
from workbench.exports.models import ExportJob

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_mobile_is_masked_for_the_operator_and_revealed_for_the_branch_manager(
    live_server, browser_bank, new_page, login_as, screenshot
):
    target = browser_bank.customers["target"]
    detail_url = f"{live_server.url}/customers/{target.pk}/"

    # The operator signs in through the Chinese login page.
    page = new_page()
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page).to_have_title("直营工作台 登录")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    screenshot(page, "01-login")
    login_as(page, "operator")
    expect(page.locator(".user-chip")).to_contain_text("张晓明")
    expect(page.locator(".user-chip")).to_contain_text("客户经理")

    # Search the customer list by name: htmx swaps the results in place and pushes the URL.
    page.get_by_role("link", name="客户", exact=True).click()
    expect(page.locator("h1")).to_have_text("客户")
    expect(page.locator("#customer-results")).to_contain_text("每页 50 条")
    expect(page.locator("#customer-results tbody tr")).to_have_count(5)
    page.evaluate("window.__stillTheSamePage = true")
    page.get_by_label("查询").fill("周慧")
    page.get_by_label("查询").press("Enter")
    expect(page.locator("#customer-results tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"[?&]q=%E5%91%A8%E6%85%A7"))
    assert page.evaluate("window.__stillTheSamePage") is True, "the search reloaded the page instead of using htmx"
    row = page.locator("#customer-results tbody tr").first
    expect(row).to_contain_text("HZ0000000101")
    expect(row).to_contain_text("138****5678")
    expect(row).to_contain_text("386,520.75")
    expect(page.locator("#customer-results")).not_to_contain_text("周建华")
    screenshot(page, "02-customer-list")

    # Open the customer: masked mobile, no reveal button, the full number nowhere in the page.
    row.get_by_role("link", name="周慧敏").click()
    expect(page).to_have_url(detail_url)
    expect(page.locator('[data-field="mobile"]')).to_have_text("138****5678")
    expect(page.locator('[data-field="id_number"]')).to_have_text("330106********1234")
    expect(page.get_by_role("button", name="显示完整信息")).to_have_count(0)
    assert "13812345678" not in page.content()
    assert "330106198805121234" not in page.content()
    expect(page.get_by_text("企业微信好友关系")).to_be_visible()
    expect(page.locator(".timeline li")).to_have_count(5)
    screenshot(page, "03-customer-detail-masked")

    # The other 分行's customer does not exist for this operator.
    response = page.goto(f"{live_server.url}/customers/{browser_bank.customers['other_branch'].pk}/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("页面不存在")
    assert "钱永康" not in page.content()
    screenshot(page, "08-not-found")

    # The branch manager of 杭州分行 may reveal it; the reveal is in the audit log.
    manager = new_page()
    login_as(manager, "manager")
    manager.goto(detail_url)
    expect(manager.locator('[data-field="mobile"]')).to_have_text("138****5678")
    manager.get_by_role("button", name="显示完整信息").click()
    expect(manager.locator('[data-field="mobile"]')).to_have_text("13812345678")
    expect(manager.locator('[data-field="id_number"]')).to_have_text("330106198805121234")
    expect(manager.locator("#pii")).to_contain_text("审计日志")
    screenshot(manager, "04-customer-detail-revealed")
    event = AuditEvent.objects.get(action=AuditAction.PII_VIEW)
    assert (event.actor_username, event.object_id) == ("manager", str(target.pk))


def test_admin_pages_look_right_in_chinese_and_switch_to_english(
    live_server, browser_bank, new_page, login_as, screenshot
):
    admin = browser_bank.operators["admin"].user
    running = ExportJob.objects.create(
        requested_by=admin, kind="customers", format="xlsx", status="running", total_rows=6, rows_written=2
    )
    ExportJob.objects.create(
        requested_by=admin,
        kind="customers",
        format="csv",
        status="failed",
        error="boom",
        finished_at=timezone.now(),
    )
    audit_record(
        actor=browser_bank.operators["manager"].user,
        action=AuditAction.PII_VIEW,
        obj=browser_bank.customers["target"],
        detail={"fields": ["mobile", "id_number"], "via": "web"},
        ip_address="10.12.3.45",
    )
    page = new_page()
    login_as(page, "admin")

    expect(page.locator(".stat").first).to_contain_text("6")
    expect(page.locator(".bars li")).to_have_count(3)
    expect(page.locator(".nav-link.is-active")).to_have_text("今日概览")
    screenshot(page, "05-home")

    page.get_by_role("link", name="客户", exact=True).click()
    page.wait_for_load_state()  # htmx binds the filter form on load; a change before that would go unheard
    expect(page.locator("#customer-results tbody tr")).to_have_count(6)
    expect(page.get_by_role("button", name="导出当前筛选结果")).to_be_visible()
    page.get_by_label("职业客群").select_option("retiree")
    expect(page.locator("#customer-results tbody tr")).to_have_count(2)
    expect(page.locator('.export-form input[name="occupation_group"]')).to_have_value("retiree")
    screenshot(page, "12-customer-list-admin")

    page.get_by_role("link", name="组织架构").click()
    expect(page.locator("table")).to_contain_text("宁波分行")
    expect(page.locator("table")).to_contain_text("网点")
    screenshot(page, "06-org-branches")
    page.get_by_role("link", name="客户经理", exact=True).first.click()
    expect(page.locator("table")).to_contain_text("王建国")
    screenshot(page, "06-org-operators")

    # The unfinished export polls its row every 2 s; once done, it shows a download link and stops.
    page.get_by_role("link", name="我的导出").click()
    row = page.locator(f"#export-{running.pk}")
    expect(row).to_contain_text("生成中")
    expect(row).to_have_attribute("hx-trigger", "every 2s")
    screenshot(page, "07-exports")
    ExportJob.objects.filter(pk=running.pk).update(
        status="done", rows_written=6, file_name="customers.xlsx", finished_at=timezone.now()
    )
    expect(row.get_by_role("link", name="下载")).to_be_visible()
    expect(row).not_to_have_attribute("hx-trigger", "every 2s")

    page.get_by_role("link", name="审计日志").click()
    expect(page.locator("table")).to_contain_text("登录")
    expect(page.locator("table")).to_contain_text("查看个人敏感信息")
    screenshot(page, "09-audit")

    # The language switch in the top bar goes to English and back.
    page.get_by_role("button", name="English").click()
    expect(page.locator(".nav-link.is-active")).to_have_text("Audit log")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    screenshot(page, "10-audit-english")
    page.get_by_role("button", name="中文").click()
    expect(page.locator(".nav-link.is-active")).to_have_text("审计日志")


def test_lockout_page_explains_when_to_retry(live_server, browser_bank, new_page, screenshot):
    page = new_page()
    for _attempt in range(5):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("用户名").fill("operator")
        page.get_by_label("密码").fill("wrong-password")
        page.get_by_role("button", name="登录").click()
    expect(page.locator("h2")).to_have_text("账号已被暂时锁定")
    expect(page.locator(".auth-card")).to_contain_text("15 分钟")
    screenshot(page, "11-locked-out")


def test_error_pages_outside_the_workbench(live_server, transactional_db, new_page, screenshot):
    page = new_page()
    response = page.goto(f"{live_server.url}/no-such-page/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("页面不存在")
    screenshot(page, "13-not-found-anonymous")

    # The 500 page is rendered without a request (the database may be what failed); it must stand alone.
    with translation.override("zh-hans"):
        html = render_to_string("500.html")
    page.set_content(html)  # still on the live server's origin, so /static/ resolves
    expect(page.locator("h1")).to_have_text("系统出错了")
    expect(page.locator(".auth-card")).to_have_css("background-color", "rgb(255, 255, 255)")
    screenshot(page, "14-server-error")
