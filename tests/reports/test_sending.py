"""Weekly and monthly reports to managers through the WeCom sandbox: one message per manager, never twice,
transient errors retried, permanent ones recorded."""

import json
from datetime import datetime

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from tests.reports.support import standard_facts
from workbench.reports.models import ReportDispatch
from workbench.reports.sending import due_period, reports_send_due, reports_send_pending

MANAGERS = {"lead_a", "lead_b", "manager_a", "manager_b", "admin"}
# Monday 2026-11-16, 09:00 China time: the week of 2026-11-09 … 11-15 is due (DAY1/DAY2 fall in it).
MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=timezone.get_fixed_timezone(480))


@pytest.fixture
def corp(bank, sandbox):
    members = [
        {"userid": operator.wecom_userid, "name": operator.name, "department": [1], "status": 1}
        for operator in bank.operators.values()
        if operator.wecom_userid and operator.is_active
    ]
    sandbox.seed({"departments": [{"id": 1, "name": "示范银行", "parentid": 0}], "members": members})
    standard_facts(bank)
    return sandbox


def app_messages(box) -> list[dict]:
    return [m for m in box.received()["app_messages"] if m["msgtype"] == "markdown"]


def recipients(messages) -> list[str]:
    return sorted(d["userid"] for m in messages for d in m["deliveries"])


def test_due_periods():
    assert due_period("weekly", MONDAY).start.isoformat() == "2026-11-09"
    early = MONDAY.replace(hour=8, minute=0)
    assert due_period("weekly", early).start.isoformat() == "2026-11-02"  # 08:30 has not come yet
    assert due_period("monthly", MONDAY).start.isoformat() == "2026-10-01"
    first = datetime(2026, 12, 1, 8, 0, tzinfo=MONDAY.tzinfo)
    assert due_period("monthly", first).start.isoformat() == "2026-10-01"
    assert due_period("monthly", first.replace(hour=9)).start.isoformat() == "2026-11-01"


def test_one_report_per_manager_and_none_twice(bank, corp):
    stats = reports_send_due(kinds=["weekly"], now=MONDAY)
    assert stats["sent"] == 5 and stats["planned_weekly"] == 5
    messages = app_messages(corp)
    assert recipients(messages) == sorted(MANAGERS)
    assert all(len(m["deliveries"]) == 1 for m in messages)
    by_user = {m["deliveries"][0]["userid"]: m["content"]["content"] for m in messages}
    assert "甲分行" in by_user["manager_a"] and "2026-11-09 – 2026-11-15" in by_user["manager_a"]
    assert "23" in by_user["manager_a"]  # branch A's customers on the week's last day with facts
    assert f"/reports/branch/{bank.branch_a.pk}/?period=custom&start=2026-11-09&end=2026-11-15" in by_user["manager_a"]
    assert "乙分行" in by_user["admin"] and "甲分行" in by_user["admin"]  # the bank's best branches
    assert ReportDispatch.objects.filter(status="sent").count() == 5

    again = reports_send_due(kinds=["weekly"], now=MONDAY)
    assert again["sent"] == 0 and again["planned_weekly"] == 0
    call_command("send_reports", "--kind", "weekly")  # the command with today's period: other rows, same rule
    assert len(app_messages(corp)) == 5 + ReportDispatch.objects.exclude(period_start="2026-11-09").count()


def test_a_transient_error_is_retried_later(bank, corp, settings):
    settings.WECOM_MAX_RETRIES = 0  # let the error reach the report instead of the client's own retries
    corp.faults(error_rate=1.0, path_prefix="message/")
    stats = reports_send_due(kinds=["weekly"], now=MONDAY)
    assert stats["retry"] == 5 and not app_messages(corp)
    dispatch = ReportDispatch.objects.get(manager=bank.operators["manager_a"])
    assert (dispatch.status, dispatch.attempts) == ("pending", 1)
    assert dispatch.next_attempt_at > MONDAY and "-1" in dispatch.error
    corp.clear_faults()
    assert not reports_send_pending(now=MONDAY)  # not due yet: nothing is tried before next_attempt_at
    later = reports_send_pending(now=MONDAY + timezone.timedelta(minutes=10))
    assert later["sent"] == 5
    assert recipients(app_messages(corp)) == sorted(MANAGERS)


def test_a_permanent_error_is_recorded_and_not_retried(bank, corp):
    corp.seed({"departments": [{"id": 1, "name": "示范银行", "parentid": 0}], "members": []})  # nobody exists
    stats = reports_send_due(kinds=["weekly"], now=MONDAY)
    assert stats["failed"] == 5
    assert set(ReportDispatch.objects.values_list("status", flat=True)) == {"failed"}
    assert reports_send_pending(now=MONDAY + timezone.timedelta(days=1)) == {}


def test_the_button_sends_the_managers_own_report_once(bank, corp, login):
    client = login("manager_a")
    page = client.get(reverse("reports:index"))
    assert reverse("reports:send-now") in page.content.decode()
    response = client.post(reverse("reports:send-now"), {"kind": "weekly"}, follow=True)
    assert response.status_code == 200
    assert recipients(app_messages(corp)) == ["manager_a"]
    client.post(reverse("reports:send-now"), {"kind": "weekly"})
    assert len(app_messages(corp)) == 1
    assert ReportDispatch.objects.get().status == "sent"


@pytest.mark.parametrize("persona", ["operator_a", "reviewer"])
def test_people_who_manage_nobody_have_no_button(bank, corp, login, persona):
    client = login(persona)
    assert reverse("reports:send-now") not in client.get(reverse("reports:index")).content.decode()
    assert client.post(reverse("reports:send-now"), {"kind": "weekly"}).status_code == 403
    assert not app_messages(corp)


def test_the_command_sends_one_managers_report(bank, corp, capsys):
    call_command("send_reports", "--manager", "lead_a", "--kind", "monthly")
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "sent"
    assert recipients(app_messages(corp)) == ["lead_a"]
