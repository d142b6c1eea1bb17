"""The incentive pages: who may see what, the builder's messages, the Excel export (opened with openpyxl)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from tests.incentives.support import PERIOD, fact, make_scheme
from workbench.audit.models import AuditAction, AuditEvent
from workbench.exports.models import ExportJob
from workbench.exports.services import export_path
from workbench.incentives.export import leaderboard_export_run
from workbench.incentives.models import Scheme, Score
from workbench.incentives.services import score_run_execute, scores_compute

BOARD = reverse("incentives:leaderboard")


@pytest.fixture
def scored(bank):
    ops = bank.operators
    fact(ops["operator_a"], PERIOD, customers_new=8, tasks_done=10, tasks_on_time=9, negative_feedback=1)
    fact(ops["operator_a2"], PERIOD + timedelta(days=3), customers_new=13, negative_feedback=3)
    fact(ops["operator_b"], PERIOD + timedelta(days=2), customers_new=4, tasks_done=10, tasks_on_time=5)
    scheme = make_scheme(bank.user("admin"))
    scores_compute(scheme=scheme, period_start=PERIOD)
    return scheme


def _score(bank, persona: str) -> Score:
    return Score.objects.get(operator=bank.operators[persona])


def _board(client, **params):
    response = client.get(BOARD, {"period": PERIOD.isoformat(), **params})
    assert response.status_code == 200
    return response


# --- who sees what ----------------------------------------------------------------------------------------------


def test_an_operator_sees_their_own_card(bank, login, scored):
    response = login("operator_a").get(reverse("incentives:my-card"))
    assert response.status_code == 200
    (card,) = response.context["cards"]
    assert card["score"] == _score(bank, "operator_a")
    body = response.content.decode()
    assert "107.00" in body and "新增客户" in body and 'data-testid="points-chart"' in body
    assert "钱甲" not in body and "孙乙" not in body


def test_an_operator_never_opens_another_operators_breakdown(bank, login, scored):
    client = login("operator_a")
    assert client.get(reverse("incentives:score", args=[_score(bank, "operator_a").pk])).status_code == 200
    for persona in ("operator_a2", "operator_b"):
        assert client.get(reverse("incentives:score", args=[_score(bank, persona).pk])).status_code == 404


def test_an_operators_leaderboard_shows_names_totals_and_ranks_only(bank, login, scored):
    client = login("operator_a")
    team = _board(client)  # their own team by default
    rows = {row.operator.name: row for row in team.context["board"].rows}
    assert set(rows) == {"赵甲", "钱甲"}
    assert rows["赵甲"].shows_breakdown and not rows["钱甲"].shows_breakdown
    body = team.content.decode()
    assert "93.00" in body  # 钱甲's total is on the board …
    assert "48.00" not in body  # … but not the capped new-customer points that make it up
    assert reverse("incentives:score", args=[rows["钱甲"].pk]) not in body

    bank_board = _board(client, level="bank")
    names = [row.operator.name for row in bank_board.context["board"].rows]
    assert names == ["赵甲", "钱甲", "孙乙"]
    assert [row.shows_breakdown for row in bank_board.context["board"].rows] == [True, False, False]

    region = _board(client, level="region")
    assert region.context["board"].anchor == bank.branch_a
    # Another team's or branch's board cannot be asked for.
    assert client.get(BOARD, {"level": "team", "anchor": bank.outlet_b.pk}).status_code == 404
    assert client.get(BOARD, {"level": "region", "anchor": bank.branch_b.pk}).status_code == 404


def test_a_manager_sees_breakdowns_in_their_branch_only(bank, login, scored):
    client = login("manager_a")
    board = _board(client, level="bank").context["board"]
    assert {row.operator.name: row.shows_breakdown for row in board.rows} == {"赵甲": True, "钱甲": True, "孙乙": False}
    assert client.get(reverse("incentives:score", args=[_score(bank, "operator_a2").pk])).status_code == 200
    assert client.get(reverse("incentives:score", args=[_score(bank, "operator_b").pk])).status_code == 404
    assert client.get(BOARD, {"level": "team", "anchor": bank.outlet_b.pk}).status_code == 404
    assert login("manager_b").get(reverse("incentives:score", args=[_score(bank, "operator_b").pk])).status_code == 200


def test_a_team_lead_sees_the_breakdowns_of_their_subtree(bank, login, scored):
    board = _board(login("lead_a"), level="region").context["board"]
    assert board.anchor == bank.branch_a  # their 分行, above their own 支行
    assert {row.operator.name: row.shows_breakdown for row in board.rows} == {"赵甲": True, "钱甲": True}


def test_head_office_sees_every_breakdown_and_any_board(bank, login, scored):
    client = login("admin")
    board = _board(client, level="bank").context["board"]
    assert all(row.shows_breakdown for row in board.rows)
    team_b = _board(client, level="team", anchor=bank.outlet_b.pk).context["board"]
    assert [row.operator.name for row in team_b.rows] == ["孙乙"]


def test_a_card_without_a_scheme_says_so(login, bank, scored):
    response = login("manager_a").get(reverse("incentives:my-card"))
    assert response.context["cards"] == []
    assert "没有适用于您的激励方案" in response.content.decode()


def test_only_head_office_manages_schemes(bank, login, scored):
    urls = [
        reverse("incentives:schemes"),
        reverse("incentives:scheme-new"),
        reverse("incentives:scheme-edit", args=[scored.pk]),
    ]
    for persona in ("operator_a", "lead_a", "manager_a", "reviewer"):
        for url in urls:
            assert login(persona).get(url).status_code == 403, (persona, url)
        assert login(persona).post(reverse("incentives:scheme-activate", args=[scored.pk])).status_code == 403
    for url in urls:
        assert login("admin").get(url).status_code == 200


# --- the builder ------------------------------------------------------------------------------------------------


def _post(rows, **fields):
    data = {
        "name": "新方案",
        "period_kind": "month",
        "roles": ["operator"],
        "lines-TOTAL_FORMS": str(len(rows)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"lines-{index}-{key}"] = value
    return data


ROW_NEW = {"metric": "new_customers", "weight": "60", "target": "10", "cap": "72", "floor": "0"}
ROW_ON_TIME = {"metric": "tasks_on_time", "weight": "40", "target": "90", "cap": "48", "floor": "0"}


def test_the_builder_creates_a_scheme(bank, login):
    response = login("admin").post(
        reverse("incentives:scheme-new"), _post([ROW_NEW, ROW_ON_TIME], branches=[bank.branch_a.pk])
    )
    assert response.status_code == 302
    scheme = Scheme.objects.get(name="新方案")
    version = scheme.current
    assert [(line.metric, line.weight, line.target) for line in version.lines.all()] == [
        ("new_customers", 60, Decimal("10.00")),
        ("tasks_on_time", 40, Decimal("90.00")),
    ]
    assert list(version.branches.all()) == [bank.branch_a] and version.roles == ["operator"]
    assert AuditEvent.objects.filter(action=AuditAction.INCENTIVE_SCHEME_CHANGED, object_id=str(scheme.pk)).exists()


@pytest.mark.parametrize(
    ("rows", "fields", "message"),
    [
        ([ROW_NEW], {}, "各项权重合计为 60，必须等于 100。"),
        ([ROW_NEW, ROW_ON_TIME | {"target": "0"}], {}, "目标必须大于零。"),
        ([ROW_NEW, ROW_ON_TIME | {"floor": "50"}], {}, "下限（50）不能高于上限（48）。"),
        ([ROW_NEW, ROW_NEW | {"weight": "40"}], {}, "“新增客户”出现了两次，每个指标只能计分一次。"),
        ([], {}, "请至少添加一个指标。"),
        ([ROW_NEW, ROW_ON_TIME], {"roles": []}, "请至少选择一个适用角色。"),
        ([ROW_NEW, ROW_ON_TIME], {"name": "客户经理月度考核"}, "已有方案名为“客户经理月度考核”。"),
    ],
)
def test_the_builder_explains_what_is_wrong(bank, login, scored, rows, fields, message):
    response = login("admin").post(reverse("incentives:scheme-new"), _post(rows, **fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Scheme.objects.count() == 1


def test_saving_a_scheme_in_use_from_the_builder_makes_a_version(bank, login, scored):
    client = login("admin")
    url = reverse("incentives:scheme-edit", args=[scored.pk])
    page = client.get(url)
    assert "已用它计算过积分" in page.content.decode()
    response = client.post(url, _post([ROW_NEW, ROW_ON_TIME], name=scored.name, note="调整权重"), follow=True)
    assert "已保存为第 2 版" in response.content.decode()
    assert scored.versions.count() == 2
    assert set(Score.objects.values_list("version__number", flat=True)) == {1}


def test_compute_now_queues_a_run_whose_progress_the_page_polls(
    bank, login, scored, django_capture_on_commit_callbacks
):
    client = login("admin")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("incentives:scheme-compute", args=[scored.pk]), {"period": PERIOD.isoformat()})
    assert response.status_code == 302 and len(callbacks) == 1  # the worker is asked once the run row is committed
    run = scored.runs.get()
    queued = client.get(reverse("incentives:schemes")).content.decode()
    assert reverse("incentives:run-progress", args=[run.pk]) in queued  # polled while unfinished
    score_run_execute(run_id=run.pk)  # what the worker does
    fragment = client.get(reverse("incentives:run-progress", args=[run.pk])).content.decode()
    assert 'aria-valuenow="100"' in fragment and "hx-get" not in fragment
    assert login("manager_a").get(reverse("incentives:run-progress", args=[run.pk])).status_code == 403


# --- the export -------------------------------------------------------------------------------------------------


def test_operators_may_not_export_the_leaderboard(bank, login, scored):
    response = login("operator_a").post(reverse("incentives:leaderboard-export"), {"level": "bank"})
    assert response.status_code == 403
    assert not ExportJob.objects.exists()


def test_the_export_is_scoped_audited_and_a_real_spreadsheet(bank, login, scored, export_root):
    client = login("manager_a")
    response = client.post(reverse("incentives:leaderboard-export"), {"period": PERIOD.isoformat(), "level": "bank"})
    assert response.status_code == 302 and response["Location"] == reverse("exports:list")
    job = ExportJob.objects.get()
    requested = AuditEvent.objects.get(action=AuditAction.EXPORT_REQUESTED)
    assert requested.actor == bank.user("manager_a") and requested.detail["kind"] == "leaderboard"
    assert requested.detail["filters"]["level"] == "bank"

    job = leaderboard_export_run(job_id=job.pk)
    assert (job.status, job.rows_written, job.total_rows) == ("done", 3, 3)
    book = load_workbook(export_path(job))
    sheet = book.active
    assert sheet.freeze_panes == "A2"
    header = [cell.value for cell in sheet[1]]
    assert header == ["排名", "客户经理", "团队", "分行", "总积分", "新增客户", "任务按时完成率", "负面反馈"]
    assert all(cell.font.bold for cell in sheet[1])
    rows = {row[1]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["赵甲"][:5] == (1, "赵甲", "甲网点", "甲分行", 107)
    assert isinstance(rows["赵甲"][4], (int, float)) and rows["赵甲"][5:] == (32, 30, 45)
    # 孙乙 is on the bank's board (name, total, rank) but outside manager_a's scope: no points per metric.
    assert rows["孙乙"][4] == float(_score(bank, "operator_b").total)
    assert rows["孙乙"][5:] == (None, None, None)

    download = client.get(reverse("exports:download", args=[job.pk]))
    assert download.status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT_DOWNLOADED, object_id=str(job.pk)).exists()
    assert login("manager_b").get(reverse("exports:download", args=[job.pk])).status_code == 404


def test_an_export_cannot_ask_for_another_branchs_board(bank, login, scored):
    response = login("manager_a").post(
        reverse("incentives:leaderboard-export"),
        {"period": PERIOD.isoformat(), "level": "team", "anchor": bank.outlet_b.pk},
    )
    assert response.status_code == 404
    assert not ExportJob.objects.exists()


def test_the_home_card_template_renders_the_selector(bank, scored):
    from django.template.loader import render_to_string

    from workbench.incentives.selectors import home_card

    html = render_to_string("incentives/_home_card.html", {"score_card": home_card(bank.operators["operator_a"])})
    assert 'data-testid="home-score-card"' in html and "107.00" in html
    assert reverse("incentives:my-card") in html and "2026-10" in html
    assert render_to_string("incentives/_home_card.html", {"score_card": None}).strip() == ""
