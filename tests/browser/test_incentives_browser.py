"""The scheme builder and the score card in a real browser: rows added by clicking, the weight total following the
typing, the validation message, and the operator's card with its chart. Screenshots for a human to look at."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.incentives.support import fact
from workbench.incentives.models import Scheme
from workbench.incentives.periods import period_of
from workbench.incentives.services import scores_compute

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_head_office_builds_a_scheme_and_an_operator_reads_their_card(
    live_server, browser_bank, new_page, login_as, screenshot
):
    page = login_as(new_page(), "admin")
    page.locator('a.nav-link[href="/incentives/schemes/"]').click()
    page.get_by_test_id("new-scheme").click()
    page.get_by_label("方案名称").fill("客户经理月度考核")
    rows = page.locator("[data-line-table] tbody tr")
    first = rows.nth(0)
    first.locator('select[name$="-metric"]').select_option("new_customers")
    first.locator('input[name$="-weight"]').fill("60")
    first.locator('input[name$="-target"]').fill("10")
    first.locator('input[name$="-cap"]').fill("72")
    page.get_by_role("button", name="+ 添加指标").click()
    second = rows.nth(1)
    second.locator('select[name$="-metric"]').select_option("negative_feedback")
    second.locator('input[name$="-weight"]').fill("30")
    second.locator('input[name$="-target"]').fill("2")
    second.locator('input[name$="-cap"]').fill("40")
    expect(page.locator("[data-weight-sum]")).to_have_text("90")
    page.get_by_test_id("save-scheme").click()
    expect(page.get_by_test_id("line-errors")).to_contain_text("各项权重合计为 90，必须等于 100。")
    screenshot(page, "incentives-01-builder-error")

    page.get_by_role("button", name="+ 添加指标").click()
    third = rows.nth(2)
    third.locator('select[name$="-metric"]').select_option("tasks_on_time")
    third.locator('input[name$="-weight"]').fill("10")
    third.locator('input[name$="-target"]').fill("90")
    third.locator('input[name$="-cap"]').fill("12")
    expect(page.locator("[data-weight-sum]")).to_have_text("100")
    screenshot(page, "incentives-02-builder")
    page.get_by_test_id("save-scheme").click()
    expect(page.locator(".alert-success")).to_contain_text("方案已保存")
    scheme = Scheme.objects.get()
    assert [line.metric for line in scheme.current.lines.all()] == [
        "new_customers",
        "negative_feedback",
        "tasks_on_time",
    ]
    page.get_by_role("button", name="启用").click()
    expect(page.get_by_test_id("scheme-list")).to_contain_text("启用中")
    screenshot(page, "incentives-03-schemes")

    # The night's computation, then the operator opens 我的积分.
    start, _end = period_of(timezone.localdate(), "month")
    operator, other = browser_bank.operators["operator"], browser_bank.operators["operator_other"]
    fact(operator, start, customers_new=7, negative_feedback=1, tasks_done=10, tasks_on_time=10)
    fact(other, start, customers_new=12, negative_feedback=4)
    scores_compute(scheme=scheme, period_start=start + timedelta(days=1))

    card = login_as(new_page(), "operator")
    card.locator('a.nav-link[href="/incentives/me/"]').click()
    expect(card.get_by_test_id("score-total")).to_have_text("93.11")  # 42 + 40 (capped from 45) + 11.11
    expect(card.get_by_test_id("points-chart").locator("li")).to_have_count(3)
    expect(card.get_by_test_id("score-breakdown")).to_contain_text("已封顶")
    screenshot(card, "incentives-04-my-card")
    card.get_by_role("link", name="查看积分排行榜").click()
    card.get_by_role("link", name="全行", exact=True).click()
    board = card.get_by_test_id("leaderboard")
    expect(board).to_contain_text("李文静")  # a colleague of another branch: name and total only
    expect(board.locator("tr.is-own")).to_contain_text("张晓明")
    screenshot(card, "incentives-05-leaderboard")
