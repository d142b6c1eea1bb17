"""Review of supervision facts, reports and incentives: each test pins down one finding of the review."""

import datetime as dt

import pytest

from tests.incentives.support import PERIOD, fact, line, make_scheme
from tests.supervision.support import local, operator_task
from workbench.exports.models import ExportJob
from workbench.exports.services import export_path, export_run
from workbench.incentives.export import leaderboard_export_request, leaderboard_export_run
from workbench.incentives.models import Score
from workbench.incentives.services import scores_compute
from workbench.org.models import Operator
from workbench.org.roles import Role
from workbench.reports.export import report_export_request
from workbench.reports.periods import Period
from workbench.supervision import services


@pytest.fixture
def scored(bank):
    ops = bank.operators
    fact(ops["operator_a"], PERIOD, customers_new=8, tasks_due=10, tasks_on_time=9, negative_feedback=1)
    fact(ops["operator_a2"], PERIOD + dt.timedelta(days=3), customers_new=13, negative_feedback=3)
    fact(ops["operator_b"], PERIOD + dt.timedelta(days=2), customers_new=4, tasks_due=10, tasks_on_time=5)
    scheme = make_scheme(bank.user("admin"))
    scores_compute(scheme=scheme, period_start=PERIOD)
    return scheme


# --- incentives: the tasks-on-time rate ----------------------------------------------------------------------------


def test_tasks_on_time_rate_of_a_period_never_exceeds_100_percent(bank):
    op = bank.operators["operator_a"]
    # Due on 10-10 and done on time that day; due on 11-02 but done early, on 10-30.
    operator_task(op, due_at=local(2026, 10, 10, 10), done_at=local(2026, 10, 10, 9))
    operator_task(op, due_at=local(2026, 11, 2, 10), done_at=local(2026, 10, 30, 9))
    services.compute_day(dt.date(2026, 10, 10))
    services.compute_day(dt.date(2026, 10, 30))
    scheme = make_scheme(bank.user("admin"), lines=[line("tasks_on_time", 100, 90, cap=200)])
    scores_compute(scheme=scheme, period_start=PERIOD)
    entry = Score.objects.get(scheme=scheme, operator=op).breakdown[0]
    assert entry["value"] is not None and float(entry["value"]) <= 100.0


# --- exports: the scope and the right to export are checked again by the worker -------------------------------------


def test_leaderboard_export_fails_cleanly_when_the_requesters_scope_changed(bank, scored, export_root):
    job = leaderboard_export_request(
        user=bank.user("lead_a"), scheme=scored, period_start=PERIOD, level="team", anchor_id=bank.outlet_a.pk
    )
    Operator.objects.filter(pk=bank.operators["lead_a"].pk).update(branch=bank.sub_b)
    job = leaderboard_export_run(job_id=job.pk)  # the worker must not raise Http404 and leave the job queued
    assert job.status == ExportJob.Status.FAILED and job.error == "out of the data scope"
    assert not job.file_name or not export_path(job).exists()


def test_leaderboard_export_of_a_requester_who_resigned_meanwhile_writes_nothing(bank, scored, export_root):
    from workbench.org.services import operator_resign

    job = leaderboard_export_request(user=bank.user("manager_a"), scheme=scored, period_start=PERIOD, level="bank")
    operator_resign(operator=Operator.objects.get(pk=bank.operators["manager_a"].pk))
    job = leaderboard_export_run(job_id=job.pk)
    assert job.status == ExportJob.Status.FAILED
    assert not job.file_name or not export_path(job).exists()


def test_report_export_is_refused_when_the_requester_lost_the_right_to_export(bank, export_root):
    job = report_export_request(
        user=bank.user("lead_a"), node_key="top", period=Period("custom", dt.date(2026, 11, 9), dt.date(2026, 11, 10))
    )
    Operator.objects.filter(pk=bank.operators["lead_a"].pk).update(role=Role.OPERATOR)
    job = export_run(job_id=job.pk)
    assert job.status == ExportJob.Status.FAILED
    assert not job.file_name or not export_path(job).exists()


# --- weekly reports: an ambiguous failure must not lead to a second message -----------------------------------------


def test_a_report_whose_send_timed_out_is_not_sent_again(bank):
    from integrations.wecom.errors import WeComTransientError
    from workbench.reports.models import ReportDispatch
    from workbench.reports.sending import dispatch_send, reports_plan

    class TimingOut:
        calls = 0

        def send_app_message(self, userids, msgtype, content):
            self.calls += 1
            if self.calls == 1:  # WeCom got it, the answer never came back: the client says it may be done
                error = WeComTransientError(None, "ReadTimeout: read timed out", path="message/send")
                error.maybe_done = True
                raise error
            return {"errcode": 0, "msgid": "m2", "invaliduser": ""}

    now = local(2026, 11, 16, 9)
    period = Period("custom", dt.date(2026, 11, 9), dt.date(2026, 11, 15))
    reports_plan(kind=ReportDispatch.Kind.WEEKLY, period=period, now=now, manager_ids=[bank.operators["lead_a"].pk])
    dispatch = ReportDispatch.objects.get()
    client = TimingOut()
    dispatch_send(pk=dispatch.pk, client=client, now=now)
    dispatch_send(pk=dispatch.pk, client=client, now=now + dt.timedelta(hours=2))
    assert client.calls == 1
    dispatch.refresh_from_db()
    assert dispatch.status == ReportDispatch.Status.FAILED and "maybe delivered" in dispatch.error


# --- reports: an operator's page after a move --------------------------------------------------------------------


def test_an_operators_page_shows_only_the_days_in_the_viewers_scope(bank):
    from tests.reports.support import DAY1, DAY2
    from tests.reports.support import fact as report_fact
    from workbench.reports.selectors import get_operator_node, kpis
    from workbench.supervision.selectors import facts_for

    mover = bank.operators["operator_a"]
    report_fact(mover, DAY1, conversions=5, conversion_amount=5000)  # recorded while in 甲网点
    Operator.objects.filter(pk=mover.pk).update(branch=bank.outlet_b)
    viewer = bank.user("lead_b")
    node = get_operator_node(viewer, mover.pk)
    allowed = sum(day.conversions for day in facts_for(viewer, start=DAY1, end=DAY2).filter(operator=mover))
    assert kpis(node, Period("custom", DAY1, DAY2))["conversions"] == allowed
