"""Computing scores from the facts: applicability, hand-computed totals, ranks, versions, runs, audit rows."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.incentives.support import PERIOD, fact, line, make_scheme
from workbench.audit.models import AuditAction, AuditEvent
from workbench.incentives.models import Score, ScoreRun
from workbench.incentives.selectors import home_card
from workbench.incentives.services import (
    region_path,
    scheme_save,
    scheme_set_active,
    score_run_execute,
    score_run_request,
    scores_compute,
    scores_compute_nightly,
)
from workbench.org.roles import Role


@pytest.fixture
def facts(bank):
    ops = bank.operators
    # operator_a: 8 new, 9 of 10 tasks on time, 1 complaint — spread over two days of October.
    fact(ops["operator_a"], PERIOD, customers_new=5, tasks_done=6, tasks_on_time=5, negative_feedback=1)
    fact(ops["operator_a"], PERIOD + timedelta(days=9), customers_new=3, tasks_done=4, tasks_on_time=4)
    # operator_a2: 13 new (over the cap), no task due, 3 complaints.
    fact(ops["operator_a2"], PERIOD + timedelta(days=3), customers_new=13, negative_feedback=3)
    # operator_b: 8 new, 9 of 10 on time, 1 complaint (the same as operator_a: a tie at bank level).
    fact(
        ops["operator_b"],
        PERIOD + timedelta(days=2),
        customers_new=8,
        tasks_done=10,
        tasks_on_time=9,
        negative_feedback=1,
    )
    # Outside the period: never counted.
    fact(ops["operator_a"], PERIOD - timedelta(days=1), customers_new=50)
    fact(ops["operator_a"], date(2026, 11, 1), customers_new=50)
    return ops


def _scores(scheme) -> dict:
    return {score.operator.name: score for score in Score.objects.filter(scheme=scheme).select_related("operator")}


def test_scores_are_computed_from_the_period_facts_by_hand(bank, facts):
    scheme = make_scheme(bank.user("admin"))
    assert scores_compute(scheme=scheme, period_start=PERIOD + timedelta(days=15)) == 3  # any day of the month
    scores = _scores(scheme)
    # The scheme: new customers 40 × n/10 (cap 48), on time 30 × rate/90 (cap 36), complaints 30 × (4 − n)/2 (cap 45).
    a = scores["赵甲"]
    assert (a.period_start, a.period_end) == (PERIOD, date(2026, 10, 31))
    assert [entry["points"] for entry in a.breakdown] == ["32.00", "30.00", "45.00"]
    assert a.total == Decimal("107.00")
    a2 = scores["钱甲"]
    assert [entry["points"] for entry in a2.breakdown] == ["48.00", "30.00", "15.00"]  # capped, no data, one over
    assert a2.breakdown[0]["capped"] and a2.breakdown[1]["no_data"]
    assert a2.total == Decimal("93.00")
    assert scores["孙乙"].total == Decimal("107.00")
    for score in scores.values():
        assert sum(Decimal(entry["points"]) for entry in score.breakdown) == score.total


def test_ranks_within_team_branch_and_bank(bank, facts):
    scheme = make_scheme(bank.user("admin"))
    scores_compute(scheme=scheme, period_start=PERIOD)
    scores = _scores(scheme)
    a, a2, b = scores["赵甲"], scores["钱甲"], scores["孙乙"]
    assert (a.rank_team, a.team_size, a.rank_region, a.region_size) == (1, 2, 1, 2)
    assert (a2.rank_team, a2.rank_region, a2.rank_bank) == (2, 2, 3)
    assert (b.rank_team, b.team_size, b.rank_region, b.region_size) == (1, 1, 1, 1)
    assert (a.rank_bank, b.rank_bank, a.bank_size) == (1, 1, 3)  # tied totals share a rank
    assert a.team == bank.outlet_a and a.region == bank.branch_a and b.region == bank.branch_b
    assert region_path(bank.outlet_a.path) == bank.branch_a.path
    assert region_path(bank.head.path) == bank.head.path


def test_applicability_by_role_and_branch(bank, facts):
    admin = bank.user("admin")
    only_b = make_scheme(admin, name="乙分行方案", branches=[bank.branch_b])
    scores_compute(scheme=only_b, period_start=PERIOD)
    assert set(_scores(only_b)) == {"孙乙"}
    leads = make_scheme(admin, name="团队长方案", roles=[Role.TEAM_LEAD])
    scores_compute(scheme=leads, period_start=PERIOD)
    assert set(_scores(leads)) == {"李组长", "周组长"}  # no facts: zeros, but scored
    # The resigned operator of outlet A is never scored.
    everyone = make_scheme(admin, name="全行方案", roles=[Role.OPERATOR, Role.BRANCH_MANAGER])
    scores_compute(scheme=everyone, period_start=PERIOD)
    assert set(_scores(everyone)) == {"赵甲", "钱甲", "孙乙", "吴行长", "郑行长"}


def test_editing_a_scheme_in_use_makes_a_version_and_old_scores_keep_theirs(bank, facts):
    admin = bank.user("admin")
    scheme = make_scheme(admin)
    v1 = scheme.current
    # Before any score, an edit changes version 1 in place.
    scheme_save(
        user=admin,
        scheme=scheme,
        name=scheme.name,
        period_kind="month",
        roles=[Role.OPERATOR],
        branches=[],
        lines=[line("new_customers", 40, 10), line("tasks_on_time", 30, 90), line("negative_feedback", 30, 2, cap=45)],
    )
    assert scheme.versions.count() == 1
    scores_compute(scheme=scheme, period_start=PERIOD)
    before = {name: (score.total, score.breakdown) for name, score in _scores(scheme).items()}

    v2 = scheme_save(
        user=admin,
        scheme=scheme,
        name=scheme.name,
        period_kind="month",
        roles=[Role.OPERATOR],
        branches=[],
        lines=[line("new_customers", 100, 4)],
        note="只考核新增",
    )
    assert (v2.number, scheme.current, v2.note) == (2, v2, "只考核新增")
    v1.refresh_from_db()
    assert [entry.metric for entry in v1.lines.all()] == ["new_customers", "tasks_on_time", "negative_feedback"]
    october = _scores(scheme)
    assert {score.version for score in october.values()} == {v1}
    assert {name: (score.total, score.breakdown) for name, score in october.items()} == before

    # A new period is scored with version 2; October keeps version 1 until someone recomputes it.
    fact(bank.operators["operator_a"], date(2026, 11, 3), customers_new=2)
    scores_compute(scheme=scheme, period_start=date(2026, 11, 1))
    november = Score.objects.get(scheme=scheme, period_start=date(2026, 11, 1), operator=bank.operators["operator_a"])
    assert november.version == v2
    assert november.breakdown[0]["value"] == "52.00"  # the 50 of 1 November (fixture) and these 2
    assert (november.breakdown[0]["points"], november.breakdown[0]["capped"]) == ("120.00", True)
    assert Score.objects.filter(scheme=scheme, period_start=PERIOD, version=v1).count() == 3

    # Recomputing October replaces its scores under the current rules.
    scores_compute(scheme=scheme, period_start=PERIOD)
    assert set(Score.objects.filter(scheme=scheme, period_start=PERIOD).values_list("version", flat=True)) == {v2.pk}


def test_scheme_changes_and_activation_are_audited(bank):
    admin = bank.user("admin")
    scheme = make_scheme(admin)
    created = AuditEvent.objects.get(action=AuditAction.INCENTIVE_SCHEME_CHANGED)
    assert created.actor == admin and created.object_id == str(scheme.pk)
    assert created.detail["created"] is True and created.detail["version"] == 1
    assert created.detail["lines"][0] == {
        "metric": "new_customers",
        "weight": "40",
        "target": "10",
        "cap": "48.0",
        "floor": "0",
    }
    scheme_set_active(user=admin, scheme=scheme, active=False)
    paused = AuditEvent.objects.get(action=AuditAction.INCENTIVE_SCHEME_ACTIVATED)
    assert paused.detail == {"active": False, "version": 1}


def test_a_run_reports_progress_and_is_idempotent(bank, facts, django_capture_on_commit_callbacks):
    scheme = make_scheme(bank.user("admin"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = score_run_request(user=bank.user("admin"), scheme=scheme, period_start=PERIOD)
    assert len(callbacks) == 1
    assert (run.status, run.percent) == (ScoreRun.Status.QUEUED, 0)
    done = score_run_execute(run_id=run.pk)
    assert (done.status, done.total, done.done, done.percent) == (ScoreRun.Status.DONE, 3, 3, 100)
    first = set(Score.objects.values_list("pk", flat=True))
    assert score_run_execute(run_id=run.pk).finished_at == done.finished_at  # a finished run is left alone
    assert set(Score.objects.values_list("pk", flat=True)) == first


def test_nightly_scores_the_period_holding_yesterday_for_active_schemes(bank, facts):
    active = make_scheme(bank.user("admin"))
    paused = make_scheme(bank.user("admin"), name="暂停的方案")
    scheme_set_active(user=bank.user("admin"), scheme=paused, active=False)
    # On 1 November, yesterday is 31 October: October is scored with its final facts.
    assert scores_compute_nightly(today=date(2026, 11, 1)) == {active.name: 3}
    assert set(Score.objects.values_list("period_start", flat=True)) == {PERIOD}
    assert not Score.objects.filter(scheme=paused).exists()


def test_home_card_gives_total_ranks_and_top_metrics(bank, facts):
    operator = bank.operators["operator_a"]
    assert home_card(operator) is None  # no scheme applies yet
    scheme = make_scheme(bank.user("admin"))
    card = home_card(operator)
    assert card["scheme"] == scheme and card["score"] is None  # applies, not computed yet
    scores_compute(scheme=scheme, period_start=PERIOD)
    card = home_card(operator)
    assert card["total"] == Decimal("107.00") and card["period"] == "2026-10"
    assert card["ranks"] == [
        {"level": "team", "rank": 1, "of": 2},
        {"level": "region", "rank": 1, "of": 2},
        {"level": "bank", "rank": 1, "of": 3},
    ]
    assert [line["metric"] for line in card["top_metrics"]] == ["negative_feedback", "new_customers", "tasks_on_time"]
    assert card["url"] == "/incentives/me/"
    assert home_card(bank.operators["manager_a"]) is None  # managers are not in this scheme


def test_the_command_scores_a_period_on_demand(bank, facts):
    import json
    from io import StringIO

    from django.core.management import call_command

    scheme = make_scheme(bank.user("admin"))
    out = StringIO()
    call_command("compute_scores", "--scheme", scheme.name, "--period", "2026-10-15", stdout=out)
    assert json.loads(out.getvalue()) == {"period_day": "2026-10-15", "scored": {scheme.name: 3}}
    assert set(Score.objects.values_list("period_start", flat=True)) == {PERIOD}
