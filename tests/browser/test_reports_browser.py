"""The branch dashboard in Chromium: Chinese, KPI tiles, charts drawn from the embedded JSON, and a drill-down by
clicking a bar of the ranking chart. The screenshot is for a human to look at."""

from datetime import timedelta

import pytest
from django.utils import timezone

from workbench.org.models import Branch, Operator
from workbench.org.services import branch_create
from workbench.supervision.models import OperatorDay

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CHARTS = ["chart-customers", "chart-reach", "chart-quality", "chart-churn", "chart-ranking"]


def _history(bank) -> Branch:
    """30 days of facts for 杭州分行's people and a second 支行, varied so that every chart has a shape."""
    hangzhou = bank.branches["hangzhou"]
    binjiang = branch_create(name="滨江支行", level=Branch.Level.SUB_BRANCH, parent=hangzhou)
    people = [bank.operators[key] for key in ("operator", "lead", "manager")]
    people += [Operator.objects.create(name=name, branch=binjiang) for name in ("赵一鸣", "钱多多", "孙悦")]
    today = timezone.localdate()
    rows = []
    for index, operator in enumerate(people):
        for offset in range(30, 0, -1):
            day = today - timedelta(days=offset)
            wave = (offset * 7 + index * 3) % 11
            rows.append(
                OperatorDay(
                    day=day,
                    operator=operator,
                    branch=operator.branch,
                    branch_path=operator.branch.path,
                    customers_owned=120 + index * 35 + (30 - offset) * 2,
                    effective_customers=70 + index * 20 + (30 - offset),
                    customers_new=2 + wave % 4,
                    lost_by_customer=wave % 3 == 0,
                    lost_by_operator=wave == 5,
                    tasks_due=6,
                    tasks_done=5 + (wave > 3),
                    tasks_on_time=4 + (wave > 6),
                    mass_tasks_received=2,
                    mass_tasks_confirmed=1 + (wave % 2),
                    confirm_delay_seconds=900,
                    deliveries=30 + wave * 4,
                    clicks=3 + wave,
                    conversions=(wave + index) % 4 == 0,
                    conversion_amount=50000 if (wave + index) % 4 == 0 else 0,
                    conversations_started=8,
                    replied_within_5min=5 + wave % 4,
                )
            )
    OperatorDay.objects.bulk_create(rows)
    return binjiang


def test_branch_dashboard_draws_its_charts_and_drills_down(live_server, browser_bank, new_page, login_as, screenshot):
    binjiang = _history(browser_bank)
    page = login_as(new_page(), "manager")
    page.goto(f"{live_server.url}/reports/?period=30d")
    page.wait_for_function("ids => window.Chart && ids.every(id => Chart.getChart(id))", arg=CHARTS, timeout=10_000)
    assert page.get_by_role("heading", name="杭州分行").is_visible()
    labels = page.locator(".stat-label").all_inner_texts()
    assert "有效客户率" in labels and "5分钟回复率" in labels, labels
    screenshot(page, "reports-branch-dashboard")

    ranked = page.evaluate("Chart.getChart('chart-ranking').data.labels")
    assert set(ranked) == {"西湖支行", "滨江支行", "王建国"}
    target = ranked.index("滨江支行")
    point = page.evaluate(
        "i => { const bar = Chart.getChart('chart-ranking').getDatasetMeta(0).data[i];"
        " return {x: bar.base + (bar.x - bar.base) / 2, y: bar.y}; }",
        target,
    )
    page.locator("#chart-ranking").scroll_into_view_if_needed()
    box = page.locator("#chart-ranking").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_url(f"**/reports/branch/{binjiang.pk}/**")
    assert page.get_by_role("heading", name="滨江支行").is_visible()
    screenshot(page, "reports-drill-down")
