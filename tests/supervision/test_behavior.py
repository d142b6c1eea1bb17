"""WeCom behaviour data against the sandbox: one member per call, ≤ 30 days per call, 45033 left for later."""

import datetime as dt

import pytest
from django.utils import timezone

from integrations.wecom_sandbox.endpoints.behavior import day_figures
from tests.wecom_sandbox import sandbox, wecom_sandbox  # noqa: F401 - fixtures
from workbench.supervision import behavior, tasks
from workbench.supervision.models import BehaviorDay, OperatorDay

BEHAVIOR_API = "externalcontact/get_user_behavior_data"


@pytest.fixture
def corp(sandbox, bank):  # noqa: F811
    userids = [op.wecom_userid for op in bank.operators.values()]
    sandbox.seed({"departments": [{"id": 1, "name": "示范银行", "parentid": 0}],
                  "members": [{"userid": u, "name": u, "department": [1]} for u in userids]})  # fmt: skip
    return sandbox


def _calls(sandbox) -> int:  # noqa: F811
    return sandbox.state()["calls"].get(BEHAVIOR_API, 0)


def test_spans_are_consecutive_and_at_most_30_days():
    day = dt.date(2026, 1, 1)
    days = [day + dt.timedelta(days=n) for n in range(65)] + [dt.date(2026, 4, 1), dt.date(2026, 4, 2)]
    days.remove(dt.date(2026, 1, 11))
    assert behavior.spans(days) == [
        (dt.date(2026, 1, 1), dt.date(2026, 1, 10)),
        (dt.date(2026, 1, 12), dt.date(2026, 2, 10)),
        (dt.date(2026, 2, 11), dt.date(2026, 3, 6)),
        (dt.date(2026, 4, 1), dt.date(2026, 4, 2)),
    ]


def test_each_member_gets_its_own_days_from_wecom(bank, corp, monkeypatch):
    monkeypatch.setattr(behavior, "SETTLED_AFTER", dt.timedelta(0))  # whatever the hour the suite runs at
    result = behavior.fetch_behavior(lookback_days=3)
    members = len(bank.operators)
    assert result.calls == members and not result.pending  # one call per member: WeCom sums several userids
    assert BehaviorDay.objects.count() == 3 * members
    today = timezone.localdate()
    op = bank.operators["operator_a"]
    for ago in (1, 2, 3):
        day = today - dt.timedelta(days=ago)
        row = BehaviorDay.objects.get(operator=op, day=day)
        figures = day_figures(op.wecom_userid, day.isoformat())
        assert (row.chat_cnt, row.message_cnt) == (figures["chat_cnt"], figures["message_cnt"])
        assert row.negative_feedback_cnt == figures["negative_feedback_cnt"]
        if figures["chat_cnt"]:
            assert float(row.reply_percentage) == round(100 * figures["replied"] / figures["chat_cnt"], 2)
    # Nothing is missing now: a second run asks WeCom nothing.
    before = _calls(corp)
    assert behavior.fetch_behavior(lookback_days=3).calls == 0
    assert _calls(corp) == before


def test_a_day_fetched_before_wecom_settled_it_is_fetched_again(bank, corp):
    from workbench.supervision.services import day_bounds

    op = bank.operators["operator_a"]
    yesterday, before = timezone.localdate() - dt.timedelta(days=1), timezone.localdate() - dt.timedelta(days=2)
    for day, after in ((yesterday, dt.timedelta(hours=1)), (before, dt.timedelta(hours=13))):
        BehaviorDay.objects.create(operator=op, day=day, fetched_at=day_bounds(day)[1] + after)  # zeros, as stored
    assert behavior.missing_days(lookback_days=2)[op] == [yesterday]


def test_45033_leaves_the_days_for_the_next_run(bank, corp):
    corp.faults(concurrency_limit=0, path_prefix=BEHAVIOR_API)  # every call: more than 0 in flight → 45033
    refused = behavior.fetch_behavior(lookback_days=2)
    assert refused.pending and "45033" in refused.error
    assert refused.calls == 1  # the client's bounded retries, then the run stops: no loop over every member
    assert BehaviorDay.objects.count() == 0
    corp.clear_faults()
    later = behavior.fetch_behavior(lookback_days=2)
    assert not later.pending and BehaviorDay.objects.count() == 2 * len(bank.operators)


def test_a_transient_failure_midway_keeps_what_was_fetched(bank, corp):
    first = behavior.fetch_behavior(lookback_days=2, seconds=0)  # out of time before the first call
    assert first.pending and first.calls == 0 and not first.error
    behavior.fetch_behavior(lookback_days=1)  # yesterday for everyone
    corp.faults(http_error_next=100, path_prefix=BEHAVIOR_API)
    refused = behavior.fetch_behavior(lookback_days=2)
    assert refused.pending and BehaviorDay.objects.count() == len(bank.operators)
    corp.clear_faults()
    assert behavior.fetch_behavior(lookback_days=2).rows == len(bank.operators)  # only the day before
    assert BehaviorDay.objects.count() == 2 * len(bank.operators)


def test_the_task_recomputes_the_days_it_fetched_and_comes_back_after_a_refusal(
    bank, corp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = tasks.fetch_behavior()
    assert outcome["rows"] == behavior.LOOKBACK_DAYS * len(bank.operators) and not outcome["pending"]
    assert len(callbacks) == 1  # the recompute of the fetched days (run here: the task's body)
    recomputed = tasks.recompute_days([(timezone.localdate() - dt.timedelta(days=1)).isoformat()])
    assert recomputed == len(bank.operators)
    row = OperatorDay.objects.get(
        operator=bank.operators["operator_a"], day=timezone.localdate() - dt.timedelta(days=1)
    )
    stored = BehaviorDay.objects.get(operator=bank.operators["operator_a"], day=row.day)
    assert row.chats == stored.chat_cnt and row.conversations_started == stored.chat_cnt

    BehaviorDay.objects.all().delete()
    corp.faults(concurrency_limit=0, path_prefix=BEHAVIOR_API)
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = tasks.fetch_behavior()
    assert outcome["pending"] and outcome["error"]
    assert len(callbacks) == 1  # the retry, ten minutes later
