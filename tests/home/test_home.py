"""The operator's home page: each section shows exactly the right items, nothing of other operators; the other
roles keep their summary; tasks can be done and postponed from it."""

import time_machine
from django.urls import reverse

from campaigns.delivery.models import OperatorTask
from tests.home.support import NOW, at, build_day, make_task
from tests.incentives.support import PERIOD, fact, make_scheme
from workbench.incentives.services import scores_compute


def _home(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response


def test_operator_sees_their_day_and_nothing_else(bank, login):
    with time_machine.travel(NOW, tick=False):
        day = build_day(bank)
        response = _home(login("operator_a"))
    today = response.context["today"]
    body = response.content.decode()

    assert [task.pk for task in today.tasks.rows] == [day.tasks["overdue"].pk, day.tasks["due"].pk]
    assert today.tasks.count == 2 and today.overdue == 1
    assert [task.pk for task in today.mass_sends.rows] == [day.sends["waiting"].pk]
    assert "群发助手" in body and "群发wait01" in body and "群发b000000001" not in body
    assert [follow.customer for follow in today.new_today.rows] == [day.customers["new"]]
    assert list(today.silent.rows) == [bank.customers["a_own"]]
    assert [credit.customer for credit in today.salary.rows] == [day.customers["salary"]]
    assert [(customer, str(when)) for customer, when in today.birthdays.rows] == [
        (day.customers["bday_today"], "2026-05-12"),
        (day.customers["bday_sat"], "2026-05-16"),
    ]
    assert [holding.customer for holding in today.maturing.rows] == [bank.customers["a_own"]]
    assert sorted(reminder.kind for reminder in today.reminders) == ["mass_send", "tasks"]
    assert "2" in next(r.text for r in today.reminders if r.kind == "tasks")

    for name in ("乙客户壹", "孙乙", "任务b", "任务other", "任务tomorrow", "任务done", "寿星下周", "甲客户叁"):
        assert name not in body, name
    assert reverse("customers:detail", args=[day.customers["new"].pk]) in body  # one click to the customer
    assert reverse("delivery:task-done", args=[day.tasks["due"].pk]) in body  # and to marking the task done


def test_other_operator_sees_only_their_own(bank, login):
    with time_machine.travel(NOW, tick=False):
        build_day(bank)
        today = _home(login("operator_b")).context["today"]
    assert [task.title for task in today.tasks.rows] == ["任务b"]
    assert [task.content_version.item.title for task in today.mass_sends.rows] == ["群发b000000001"]
    assert [follow.customer.name for follow in today.new_today.rows] == ["乙客户壹"]
    assert [credit.customer.name for credit in today.salary.rows] == ["乙客户壹"]
    assert [customer.name for customer, _ in today.birthdays.rows] == ["乙客户壹"]
    assert [holding.customer.name for holding in today.maturing.rows] == ["乙客户壹"]


def test_silent_days_is_a_setting(bank, login, settings):
    settings.HOME_SILENT_DAYS = 4  # a_followed's 1:1 message was 5 days ago: now they count as silent
    with time_machine.travel(NOW, tick=False):
        build_day(bank)
        today = _home(login("operator_a")).context["today"]
    assert {customer.name for customer in today.silent.rows} == {"甲客户壹", "甲客户贰", "近期新客"}
    assert today.silent_days == 4


def test_managers_keep_the_summary_and_see_their_own_tasks(bank, login):
    with time_machine.travel(NOW, tick=False):
        build_day(bank)
        make_task(bank, "manager", "a_branch", due=at(0, 16))  # a_branch is owned by manager_a
        response = _home(login("manager_a"))
        admin = _home(login("admin"))
        superuser = _home(login("superuser"))
    assert response.context["summary"]["total"] == 4 + 6  # the persona bank's branch A plus the day's six
    assert not response.context["is_operator"]
    assert [task.title for task in response.context["today"].tasks.rows] == ["任务manager"]
    body = response.content.decode()
    assert "任务manager" in body and "today-attention" not in body
    assert admin.context["summary"]["total"] == len(bank.customers) + 6
    assert admin.context["today"].tasks.count == 0
    assert "今日新客" not in admin.content.decode()
    assert "today" not in superuser.context  # no operator profile: the summary only


def test_mark_a_task_done_and_postpone_from_home(bank, login):
    with time_machine.travel(NOW, tick=False):
        day = build_day(bank)
        client = login("operator_a")
        response = client.post(
            reverse("delivery:task-done", args=[day.tasks["due"].pk]),
            {"outcome": "reached", "next": reverse("home")},
        )
        assert response.status_code == 302 and response["Location"] == reverse("home")
        until = _home(client).context["today"].postpone_to
        response = client.post(
            reverse("delivery:task-postpone", args=[day.tasks["overdue"].pk]),
            {"until": until.strftime("%Y-%m-%dT%H:%M"), "next": reverse("home")},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 200
        today = _home(client).context["today"]
    assert OperatorTask.objects.get(pk=day.tasks["due"].pk).status == "done"
    postponed = OperatorTask.objects.get(pk=day.tasks["overdue"].pk)
    assert postponed.status == "postponed" and postponed.due_at == until
    assert until.hour == 9 and until.date().isoformat() == "2026-05-13"
    assert today.tasks.count == 0


def test_another_operators_task_cannot_be_done_from_home(bank, login):
    with time_machine.travel(NOW, tick=False):
        day = build_day(bank)
        response = login("operator_a").post(
            reverse("delivery:task-done", args=[day.tasks["b"].pk]), {"outcome": "reached"}
        )
    assert response.status_code == 404
    assert OperatorTask.objects.get(pk=day.tasks["b"].pk).status == "open"


def test_operator_sees_their_score_and_rank(bank, login):
    fact(bank.operators["operator_a"], PERIOD, customers_new=8, tasks_due=10, tasks_on_time=9)
    fact(bank.operators["operator_a2"], PERIOD, customers_new=13)
    scheme = make_scheme(bank.user("admin"), name="客户经理月度考核")
    scores_compute(scheme=scheme, period_start=PERIOD)
    response = _home(login("operator_a"))
    card = response.context["score_card"]
    assert card["scheme"] == scheme and card["score"].operator == bank.operators["operator_a"]
    body = response.content.decode()
    assert 'data-testid="home-score-card"' in body and "客户经理月度考核" in body
    assert reverse("incentives:my-card") in body
    assert "score_card" not in _home(login("manager_a")).context  # the summary roles keep their page


def test_no_score_card_when_no_scheme_applies(bank, login):
    response = _home(login("operator_a"))
    assert response.context["score_card"] is None
    assert 'data-testid="home-score-card"' not in response.content.decode()


def test_home_speaks_chinese_by_default_and_english_when_chosen(bank, login):
    client = login("operator_a")
    assert "今日到期与逾期任务" in _home(client).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": reverse("home")})
    english = _home(client).content.decode()
    assert "Tasks due today and overdue" in english and "群发助手" in english  # the WeCom menu path stays Chinese


def test_after_midnight_in_china_today_is_the_chinese_date(bank, login):
    """01:00 in China is still the day before in UTC: the birthday list must say today's, not yesterday's."""
    early = NOW.replace(hour=1)
    with time_machine.travel(early, tick=False):
        day = build_day(bank)
        response = _home(login("operator_a"))
    today = response.context["today"]
    assert str(today.date) == "2026-05-12"
    assert today.birthdays.rows[0] == (day.customers["bday_today"], today.date)
    assert "今天生日" in response.content.decode()
