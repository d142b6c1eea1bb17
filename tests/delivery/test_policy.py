"""The contact policy: do-not-disturb and opt-out, quiet hours, caps per day / week / month, priority, the member's
one-a-day rule, WeCom's quota as the ceiling — at planning time and again when a delivery comes up for sending."""

import datetime as dt
from datetime import time

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.delivery import dispatch, policy, services
from campaigns.delivery.models import ContactPolicy, Delivery, SendTask, Suppression
from tagging.models import FollowRelationship
from tests.delivery.support import add_customers, mass_content

pytestmark = pytest.mark.django_db

SHANGHAI = timezone.get_current_timezone()
TUESDAY_10 = dt.datetime(2026, 3, 3, 10, 0, tzinfo=SHANGHAI)  # a Tuesday morning, outside quiet hours


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=SHANGHAI)


def plan(customers, version, *, step: str, due, source_id: int = 1, priority: int = 5, source_kind="broadcast"):
    return services.plan_sends(
        customer_ids=[c.pk for c in customers],
        content_version=version,
        source_kind=source_kind,
        source_id=source_id,
        step_key=step,
        due_at=due,
        priority=priority,
    )


def statuses(step: str, source_id: int = 1) -> dict:
    return dict(Delivery.objects.filter(step_key=step, source_id=source_id).values_list("customer_id", "status"))


@pytest.fixture
def setup(bank):
    with time_machine.travel(TUESDAY_10, tick=False):
        version = mass_content(bank)
        customers = add_customers(bank.operators["operator_a"], 4)
    return bank, version, customers


def test_do_not_disturb_and_opt_out_are_suppressed_and_recorded(setup):
    bank, version, customers = setup
    policy.set_dnd(customers[0], True, actor=bank.user("operator_a"), reason="电话里要求")
    policy.set_opted_out(customers[1], True, reason="回复退订")
    with time_machine.travel(TUESDAY_10, tick=False):
        result = plan(customers, version, step="s1", due=timezone.now())
    assert (result.planned, result.suppressed, result.deferred) == (2, 2, 0)
    assert result.reasons == {"dnd": 1, "opted_out": 1}
    rows = dict(Delivery.objects.values_list("customer_id", "reason"))
    assert rows[customers[0].pk] == "dnd" and rows[customers[1].pk] == "opted_out"
    assert set(Suppression.objects.values_list("customer_id", "reason")) == {
        (customers[0].pk, "dnd"),
        (customers[1].pk, "opted_out"),
    }
    # The customer's timeline says so (one merge of the engine's rows into tagging's timeline).
    from tagging.selectors import customer_timeline

    kinds = {entry.kind for entry in customer_timeline(customers[0])}
    assert "contact_held" in kinds and "note" in kinds  # the hold, and the do-not-disturb change itself


def test_planning_the_same_key_again_is_a_no_op(setup):
    _bank, version, customers = setup
    with time_machine.travel(TUESDAY_10, tick=False):
        first = plan(customers, version, step="s1", due=timezone.now())
        again = plan(customers, version, step="s1", due=timezone.now())
    assert first.planned == 4 and (again.planned, again.suppressed, again.existing) == (0, 0, 4)
    assert Delivery.objects.count() == 4


def test_quiet_hours_defer_to_the_end_of_the_window(setup):
    _bank, version, customers = setup
    late = at(3, 22, 30)
    with time_machine.travel(late, tick=False):
        verdict = policy.check([customers[0].pk], at=late, priority=5)
        result = plan(customers, version, step="s1", due=late)
    assert (result.planned, result.deferred) == (4, 4)
    morning = at(4, 8, 0)
    assert set(Delivery.objects.values_list("due_at", flat=True)) == {morning}
    assert verdict.deferred == {customers[0].pk: morning} and not verdict.allowed
    assert Suppression.objects.filter(action="deferred", reason="quiet_hours", until=morning).count() == 4
    # Nothing goes out at night; in the morning it does.
    with time_machine.travel(at(3, 23, 0), tick=False):
        assert sum(dispatch.assemble_due().values()) == 0
    with time_machine.travel(at(4, 8, 1), tick=False):
        assert dispatch.assemble_due()["queued"] == 4


def test_a_window_inside_one_day_and_none_at_all():
    rules = ContactPolicy(quiet_start=time(12, 0), quiet_end=time(14, 0))
    assert policy.quiet_until(rules, at(3, 13, 0)) == at(3, 14, 0)
    assert policy.quiet_until(rules, at(3, 15, 0)) is None
    rules = ContactPolicy(quiet_start=time(0, 0), quiet_end=time(0, 0))
    assert policy.quiet_until(rules, at(3, 3, 0)) is None


def test_daily_weekly_and_monthly_caps_across_sources(setup):
    bank, version, customers = setup
    rules = policy.get_policy()
    rules.cap_per_day, rules.cap_per_week, rules.cap_per_month = 1, 2, 3
    rules.save()
    customer = customers[:1]
    # Different playbooks (sources) and days: the caps count them all.
    assert plan(customer, version, step="a", due=at(3, 10), source_id=1).planned == 1
    assert plan(customer, version, step="b", due=at(3, 15), source_id=2).reasons == {"cap_day": 1}
    assert plan(customer, version, step="c", due=at(4, 10), source_id=3).planned == 1
    assert plan(customer, version, step="d", due=at(5, 10), source_id=4).reasons == {"cap_week": 1}
    assert plan(customer, version, step="e", due=at(10, 10), source_id=5).planned == 1  # next week
    assert plan(customer, version, step="f", due=at(17, 10), source_id=6).reasons == {"cap_month": 1}
    assert plan(customer, version, step="g", due=dt.datetime(2026, 4, 1, 10, tzinfo=SHANGHAI), source_id=7).planned == 1


def test_failed_and_suppressed_messages_hold_no_slot(setup):
    _bank, version, customers = setup
    customer = customers[:1]
    plan(customer, version, step="a", due=at(3, 10), source_id=1)
    Delivery.objects.update(status=Delivery.Status.FAILED, reason="over_quota")  # WeCom did not deliver it
    assert plan(customer, version, step="b", due=at(3, 11), source_id=2).planned == 1


def test_the_more_important_playbook_wins_the_slot_even_when_planned_later(setup):
    _bank, version, customers = setup
    customer = customers[:1]
    low = plan(customer, version, step="low", due=at(3, 10), source_id=1, priority=7)
    high = plan(customer, version, step="high", due=at(3, 15), source_id=2, priority=1)
    assert low.planned == 1 and high.planned == 1  # the less important one does not block the more important one
    # A third, less important than both, finds the slot taken by the more important planned one.
    assert plan(customer, version, step="third", due=at(3, 16), source_id=3, priority=8).reasons == {"cap_day": 1}
    with time_machine.travel(at(3, 10, 1), tick=False):  # the less important one comes up first: held back
        dispatch.assemble_due()
    assert Delivery.objects.get(step_key="low").reason == "cap_day"
    with time_machine.travel(at(3, 15, 1), tick=False):
        assert dispatch.assemble_due()["queued"] == 1
    assert Delivery.objects.get(step_key="high").status == Delivery.Status.QUEUED


def test_equal_priority_first_planned_wins(setup):
    _bank, version, customers = setup
    plan(customers[:1], version, step="first", due=at(3, 15), source_id=1)
    assert plan(customers[:1], version, step="second", due=at(3, 10), source_id=2).reasons == {"cap_day": 1}


def test_one_mass_message_per_member_per_customer_per_day(setup):
    _bank, version, customers = setup
    rules = policy.get_policy()
    rules.cap_per_day, rules.cap_per_week = 3, 3
    rules.save()
    assert plan(customers[:1], version, step="a", due=at(3, 10), source_id=1).planned == 1
    assert plan(customers[:1], version, step="b", due=at(3, 11), source_id=2).reasons == {"member_daily": 1}


def test_who_cannot_be_reached_on_wecom(bank, setup):
    _bank, version, customers = setup
    FollowRelationship.objects.filter(customer=customers[0]).update(deleted_at=timezone.now(), deleted_by="customer")
    customers[1].external_userid = None
    customers[1].save(update_fields=["external_userid"])
    bank.operators["operator_a"].user  # noqa: B018
    result = plan(customers, version, step="s", due=at(3, 10))
    assert result.reasons == {"no_relationship": 1, "unmatched": 1}


def test_the_owner_sends_when_they_follow_else_the_newest_follower(bank, setup):
    _bank, version, customers = setup
    ops = bank.operators
    first = customers[0]
    FollowRelationship.objects.create(customer=first, operator=ops["operator_a2"], added_at=timezone.now())
    second = customers[1]
    FollowRelationship.objects.filter(customer=second).update(deleted_at=timezone.now(), deleted_by="operator")
    FollowRelationship.objects.create(customer=second, operator=ops["operator_a2"], added_at=timezone.now())
    plan(customers[:2], version, step="s", due=at(3, 10))
    senders = dict(Delivery.objects.values_list("customer_id", "sender_id"))
    assert senders == {first.pk: ops["operator_a"].pk, second.pk: ops["operator_a2"].pk}


def test_rules_are_checked_again_before_sending(bank, setup):
    _bank, version, customers = setup
    plan(customers, version, step="s", due=at(3, 10))
    policy.set_dnd(customers[0], True, reason="后来要求")
    FollowRelationship.objects.filter(customer=customers[1]).update(deleted_at=timezone.now(), deleted_by="customer")
    with time_machine.travel(at(3, 10, 5), tick=False):
        stats = dispatch.assemble_due()
    assert stats["suppressed_dnd"] == 1 and stats["suppressed_no_relationship"] == 1 and stats["queued"] == 2
    assert statuses("s")[customers[0].pk] == "suppressed"
    assert SendTask.objects.get().recipients == 2


def test_content_withdrawn_after_planning_is_not_sent(setup):
    _bank, version, customers = setup
    plan(customers, version, step="s", due=at(3, 10))
    version.status = "superseded"
    version.save(update_fields=["status"])
    with time_machine.travel(at(3, 10, 5), tick=False):
        assert dispatch.assemble_due()["content_unusable"] == 4
    assert set(Delivery.objects.values_list("reason", flat=True)) == {"content_unusable"}
    with pytest.raises(services.DeliveryError):
        plan(customers, version, step="again", due=at(3, 11))


def test_check_reads_without_writing_and_tasks_ignore_caps(setup):
    _bank, version, customers = setup
    plan(customers[:1], version, step="s", due=at(3, 10))
    verdict = policy.check([c.pk for c in customers] + [999_999], at=at(3, 12), priority=5)
    assert verdict.suppressed == {customers[0].pk: "cap_day", 999_999: "unmatched"}
    assert sorted(verdict.allowed) == sorted(c.pk for c in customers[1:])
    assert verdict.senders[customers[1].pk] == customers[1].owner_id
    assert policy.check([customers[0].pk], at=at(3, 12), priority=5, kind="task").allowed == [customers[0].pk]
    assert Suppression.objects.count() == 0


@pytest.mark.parametrize(
    ("mode", "caps", "field"),
    [
        ("1_per_day", (2, 7, 31), "cap_per_day"),
        ("7_per_week", (1, 8, 31), "cap_per_week"),
        ("monthly", (1, 7, 32), "cap_per_month"),
        ("monthly", (3, 2, 31), "cap_per_week"),
    ],
)
def test_caps_are_never_above_the_wecom_quota(db, mode, caps, field):
    with pytest.raises(ValidationError) as error:
        policy.policy_update(
            actor=None, wecom_quota_mode=mode, cap_per_day=caps[0], cap_per_week=caps[1], cap_per_month=caps[2]
        )
    assert field in error.value.message_dict


@pytest.mark.parametrize("days", [0, 91])
def test_the_conversion_window_is_between_one_and_ninety_days(db, days):
    with pytest.raises(ValidationError) as error:
        policy.policy_update(actor=None, conversion_window_days=days)
    assert "conversion_window_days" in error.value.message_dict
    assert policy.get_policy().conversion_window_days == 7  # nothing was saved


def test_the_monthly_quota_is_the_number_of_days_in_the_month(db):
    rules = policy.get_policy()
    rules.cap_per_day, rules.cap_per_week, rules.cap_per_month = 1, 7, 31
    assert policy.window(rules, at(3, 10)).cap_month == 31
    assert policy.window(rules, dt.datetime(2026, 2, 10, 10, tzinfo=SHANGHAI)).cap_month == 28
