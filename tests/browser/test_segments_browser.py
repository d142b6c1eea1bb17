"""The segment editor in a real browser: rows and groups built by clicking, the live count following each change
(htmx, debounced), validation messages naming the row, and the saved condition as the builder wrote it."""

import pytest
from playwright.sync_api import expect

from tagging.models import Customer
from tagging.segments import bitmaps
from tagging.segments.models import Segment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _count(page) -> int:
    return int(page.locator(".seg-count-value").inner_text().replace(",", ""))


def test_a_head_office_user_builds_and_saves_a_segment(live_server, browser_bank, new_page, login_as, screenshot):
    bitmaps.bitmaps_rebuild_attributes()
    page = login_as(new_page(), "admin")
    page.locator('a.nav-link[href="/segments/"]').click()
    page.get_by_role("link", name="新建客群").click()
    expect(page.locator(".seg-count-value")).to_have_text(str(Customer.objects.count()))  # no condition yet: all

    # Row 1: AUM at least 100,000 — the count follows as soon as the typing stops.
    page.get_by_role("button", name="+ 添加条件").first.click()
    row = page.locator(".cb-row").nth(0)
    row.locator("select.cb-field").select_option("aum")
    row.get_by_label("资产 AUM（元）").fill("100000")
    rich = Customer.objects.filter(aum__gte=100000).count()
    expect(page.locator(".seg-count-value")).to_have_text(str(rich))

    # Group 2 (any of): a nested row with no value yet is reported by its number, not counted.
    page.get_by_role("button", name="+ 添加条件组").first.click()
    nested = page.locator(".cb-nested .cb-row").first
    expect(nested.locator(".cb-num")).to_have_text("2.1")
    nested.locator("select.cb-field").select_option("occupation_group")
    expect(page.locator("#segment-preview")).to_contain_text("第 2.1 个条件")
    nested.locator("label.cb-pill", has_text="退休").click()
    expected = Customer.objects.filter(aum__gte=100000, occupation_group="retiree").count()
    expect(page.locator(".seg-count-value")).to_have_text(str(expected))
    screenshot(page, "segments-01-editor")

    page.get_by_label("客群名称").fill("高资产退休客户")
    page.get_by_role("button", name="保存客群").click()
    expect(page.locator(".alert-success")).to_contain_text("高资产退休客户")
    segment = Segment.objects.get()
    assert segment.condition == {
        "match": "all",
        "rules": [
            {"field": "aum", "op": "gte", "value": "100000.00"},
            {"match": "any", "rules": [{"field": "occupation_group", "op": "in", "value": ["retiree"]}]},
        ],
    }
    # Reopened, the builder draws what was saved, and the count is the same.
    expect(page.locator(".cb-row")).to_have_count(2)
    expect(page.locator(".seg-count-value")).to_have_text(str(expected))
    assert _count(page) == expected
