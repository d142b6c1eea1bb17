"""Playbooks: triggers, every step type, versions, exits, re-entry, A/B stickiness, dry run.

The tick and the trigger scan are called directly with a chosen `now`; the database is the real PostgreSQL.
"""

import datetime as dt

import pytest
from django.utils import timezone, translation

from campaigns.playbooks import runner, schedule, services, triggers
from campaigns.playbooks.enrol import enrol
from campaigns.playbooks.models import Enrolment, Playbook, StepRun
from tagging.models import CustomerTag, TagChange, TagSource
from tagging.tags.services import tag_add, tag_remove
from tests.factories import CustomerFactory
from tests.playbook_helpers import enrolment, local, make_tag, publish

pytestmark = pytest.mark.django_db

MANUAL = {"type": "manual"}


def _enrol(playbook, *customers, now, key="test"):
    version = playbook.live_version
    return enrol(version, [(c.pk, f"{key}:{c.pk}", now) for c in customers], now=now)


def test_a_big_enrolment_refreshes_the_planner_statistics_as_the_table_grows(bank, monkeypatch):
    from django.db import connection

    from campaigns.playbooks import enrol as enrolling

    monkeypatch.setattr(enrolling, "CHUNK", 2)
    monkeypatch.setattr(enrolling, "ANALYZE_EVERY_ROWS", 4)
    playbook = publish(bank, trigger=MANUAL, steps=[{"type": "tag", "action": "add", "tag": make_tag("大批量").pk}])
    customers = [CustomerFactory(owner=bank.operators["operator_a"]) for _ in range(6)]

    def planner_rows() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'playbooks_enrolment'")
            return cursor.fetchone()[0]

    enrolled = _enrol(playbook, *customers, now=local(2026, 3, 2, 10))
    assert enrolled == sorted(c.pk for c in customers)
    assert planner_rows() == 4  # analysed once four rows were in (this transaction's own rows count), not after six


# --- steps ------------------------------------------------------------------------------------------------------


def test_tag_step_adds_the_tag_once_with_the_playbook_as_source(bank):
    tag = make_tag("已参加活动")
    playbook = publish(bank, trigger=MANUAL, steps=[{"type": "tag", "action": "add", "tag": tag.pk}])
    customer = bank.customers["a_own"]
    now = local(2026, 3, 2, 10)
    assert _enrol(playbook, customer, now=now) == [customer.pk]
    stats = runner.tick(now)
    assert stats["claimed"] == 1 and stats["completed"] == 1
    assert CustomerTag.objects.filter(customer=customer, tag=tag).exists()
    change = TagChange.objects.get(customer=customer, tag=tag)
    assert (change.source, change.source_id) == (TagSource.EVENT, playbook.pk)
    row = enrolment(playbook, customer)
    assert row.state == Enrolment.State.COMPLETED and row.due_at is None
    assert StepRun.objects.filter(enrolment=row).count() == 1
    assert runner.tick(now + dt.timedelta(hours=1))["claimed"] == 0


def test_delay_waits_then_continues(bank):
    tag = make_tag("延时后")
    steps = [{"type": "delay", "days": 2, "hours": 3}, {"type": "tag", "action": "add", "tag": tag.pk}]
    playbook = publish(bank, trigger=MANUAL, steps=steps)
    customer = bank.customers["a_own"]
    now = local(2026, 3, 2, 10)
    _enrol(playbook, customer, now=now)
    runner.tick(now)
    row = enrolment(playbook, customer)
    assert row.step == "s1" and row.due_at == now + dt.timedelta(days=2, hours=3)
    assert runner.tick(now + dt.timedelta(days=2))["claimed"] == 0
    runner.tick(now + dt.timedelta(days=2, hours=3))
    assert CustomerTag.objects.filter(customer=customer, tag=tag).exists()
    assert enrolment(playbook, customer).state == Enrolment.State.COMPLETED
    assert set(StepRun.objects.values_list("step_key", "outcome")) == {("s1", "waited"), ("s2", "done")}


def test_wait_until_time_of_day_and_weekday(bank):
    tag = make_tag("周三上午")
    steps = [{"type": "wait_until", "time": "09:30", "weekdays": [3]}, {"type": "tag", "action": "add", "tag": tag.pk}]
    playbook = publish(bank, trigger=MANUAL, steps=steps)
    customer = bank.customers["a_own"]
    monday = local(2026, 3, 2, 10)
    _enrol(playbook, customer, now=monday)
    runner.tick(monday)
    assert enrolment(playbook, customer).due_at == local(2026, 3, 4, 9, 30)
    runner.tick(local(2026, 3, 4, 9, 30))
    assert CustomerTag.objects.filter(customer=customer, tag=tag).exists()


def test_next_time_of_day_is_today_when_still_ahead():
    assert schedule.next_time_of_day("10:00", local(2026, 3, 2, 9)) == local(2026, 3, 2, 10)
    assert schedule.next_time_of_day("10:00", local(2026, 3, 2, 11)) == local(2026, 3, 3, 10)
    assert schedule.next_time_of_day("10:00", local(2026, 3, 2, 11), [1]) == local(2026, 3, 9, 10)


def test_branch_on_a_condition(bank):
    vip = make_tag("重点客户", kind="manual")
    yes, no = make_tag("走是"), make_tag("走否")
    steps = [
        {"type": "branch", "criterion": {"kind": "has_tag", "tag": vip.pk}, "then": "s2", "else": "s3"},
        {"type": "tag", "action": "add", "tag": yes.pk},
        {"type": "tag", "action": "add", "tag": no.pk},
    ]
    # "then" goes to s2 and carries on to s3: branches choose where to start, the list order does the rest;
    # an explicit "end" stops.
    steps[1]["type"] = "tag"
    playbook = publish(bank, trigger=MANUAL, steps=steps)
    a, b = bank.customers["a_own"], bank.customers["b_own"]
    tag_add([a.pk], vip, source=TagSource.MANUAL)
    now = local(2026, 3, 2, 10)
    _enrol(playbook, a, b, now=now)
    runner.tick(now)
    assert CustomerTag.objects.filter(customer=a, tag=yes).exists()
    assert not CustomerTag.objects.filter(customer=b, tag=yes).exists()
    assert CustomerTag.objects.filter(customer=b, tag=no).exists()
    outcomes = dict(StepRun.objects.filter(step_key="s1").values_list("customer_id", "outcome"))
    assert outcomes == {a.pk: "then", b.pk: "else"}


def test_wait_for_condition_met_or_timed_out(bank):
    replied = make_tag("已回复", kind="manual")
    follow_up, timed_out = make_tag("跟进"), make_tag("超时")
    steps = [
        {
            "type": "wait_condition",
            "criterion": {"kind": "has_tag", "tag": replied.pk},
            "timeout_hours": 48,
            "on_timeout": "s3",
        },
        {"type": "tag", "action": "add", "tag": follow_up.pk},
        {"type": "tag", "action": "add", "tag": timed_out.pk},
    ]
    playbook = publish(bank, trigger=MANUAL, steps=steps)
    a, b = bank.customers["a_own"], bank.customers["b_own"]
    now = local(2026, 3, 2, 10)
    _enrol(playbook, a, b, now=now)
    runner.tick(now)
    assert enrolment(playbook, a).due_at == now + dt.timedelta(minutes=15)
    tag_add([a.pk], replied, source=TagSource.MANUAL)
    runner.tick(now + dt.timedelta(minutes=15))
    assert CustomerTag.objects.filter(customer=a, tag=follow_up).exists()
    assert enrolment(playbook, b).state == Enrolment.State.ACTIVE
    runner.tick(now + dt.timedelta(hours=48))
    assert CustomerTag.objects.filter(customer=b, tag=timed_out).exists()
    assert not CustomerTag.objects.filter(customer=b, tag=follow_up).exists()
    assert dict(StepRun.objects.filter(step_key="s1").values_list("customer_id", "outcome")) == {
        a.pk: "met",
        b.pk: "timeout",
    }


def test_ab_split_is_sticky_per_customer_and_playbook(bank):
    arm_a, arm_b = make_tag("A组"), make_tag("B组")
    steps = [
        {
            "type": "ab_split",
            "arms": [{"name": "A", "weight": 40, "goto": "s2"}, {"name": "B", "weight": 40, "goto": "s3"}],
            "control": 20,
        },
        {"type": "tag", "action": "add", "tag": arm_a.pk},
        {"type": "tag", "action": "add", "tag": arm_b.pk},
    ]
    steps[1]["type"] = "tag"
    playbook = publish(bank, trigger=MANUAL, steps=steps, reentry="cooldown", cooldown_days=1)
    customers = [CustomerFactory(owner=bank.operators["operator_a"]) for _ in range(60)]
    now = local(2026, 3, 2, 10)
    _enrol(playbook, *customers, now=now)
    runner.tick(now)
    first = dict(Enrolment.objects.filter(playbook=playbook).values_list("customer_id", "arm"))
    assert set(first.values()) == {"A", "B", "control"}
    for customer in customers:
        expected = schedule.arm_for(playbook.live_version.steps[0], playbook.pk, customer.pk)
        assert first[customer.pk] == (expected["name"] if expected else "control")
    control = [pk for pk, arm in first.items() if arm == "control"]
    assert Enrolment.objects.filter(customer_id__in=control, exit_reason="control").count() == len(control)
    assert not CustomerTag.objects.filter(customer_id__in=control, tag__in=[arm_a, arm_b]).exists()
    # A second entry (after the cool-down) and a new version draw the same arms.
    services.playbook_save(
        playbook=playbook,
        name=playbook.name,
        priority=5,
        draft=services.version_draft(playbook.live_version),
        actor=bank.user("admin"),
    )
    services.playbook_publish(playbook=playbook, actor=bank.user("admin"))
    playbook.refresh_from_db()
    later = now + dt.timedelta(days=2)
    _enrol(playbook, *customers, now=later, key="again")
    runner.tick(later)
    second = dict(Enrolment.objects.filter(playbook=playbook, entry=2).values_list("customer_id", "arm"))
    assert second == first


# --- exits and re-entry ---------------------------------------------------------------------------------------


def test_exit_on_a_condition_before_the_next_step(bank):
    stop = make_tag("不再打扰", kind="manual")
    later = make_tag("三天后")
    steps = [{"type": "delay", "days": 3}, {"type": "tag", "action": "add", "tag": later.pk}]
    exits = [{"kind": "criterion", "criterion": {"kind": "has_tag", "tag": stop.pk}}]
    playbook = publish(bank, trigger=MANUAL, steps=steps, exits=exits)
    a, b = bank.customers["a_own"], bank.customers["b_own"]
    now = local(2026, 3, 2, 10)
    _enrol(playbook, a, b, now=now)
    runner.tick(now)
    tag_add([a.pk], stop, source=TagSource.MANUAL)
    runner.tick(now + dt.timedelta(days=3))
    assert enrolment(playbook, a).exit_reason == Enrolment.Reason.CONDITION
    assert not CustomerTag.objects.filter(customer=a, tag=later).exists()
    assert CustomerTag.objects.filter(customer=b, tag=later).exists()


def test_exit_when_converted_or_unfollowed(bank):
    from integrations.bank.models import ProductPurchase
    from tagging.models import FollowRelationship, Product

    later = make_tag("后续")
    steps = [{"type": "delay", "days": 1}, {"type": "tag", "action": "add", "tag": later.pk}]
    exits = [{"kind": "converted", "category": "wealth"}, {"kind": "unfollowed"}]
    playbook = publish(bank, trigger=MANUAL, steps=steps, exits=exits)
    a_own, a_followed, b_own = (bank.customers[k] for k in ("a_own", "a_followed", "b_own"))
    now = local(2026, 3, 2, 10)
    _enrol(playbook, a_own, a_followed, b_own, now=now)
    runner.tick(now)
    product = Product.objects.create(code="W001", name="稳利30天", category="wealth")
    deposit = Product.objects.create(code="D001", name="定期", category="deposit")
    ProductPurchase.objects.create(
        customer=a_own, product=product, amount=1000, purchased_at=now + dt.timedelta(hours=1), reference="R1"
    )
    ProductPurchase.objects.create(
        customer=b_own, product=deposit, amount=1000, purchased_at=now + dt.timedelta(hours=1), reference="R2"
    )
    FollowRelationship.objects.filter(customer=a_followed).update(
        deleted_at=now + dt.timedelta(hours=2), deleted_by=FollowRelationship.DeletedBy.CUSTOMER
    )
    runner.tick(now + dt.timedelta(days=1))
    assert enrolment(playbook, a_own).exit_reason == Enrolment.Reason.CONVERTED
    assert enrolment(playbook, a_followed).exit_reason == Enrolment.Reason.UNFOLLOWED
    assert enrolment(playbook, b_own).state == Enrolment.State.COMPLETED  # a deposit is not the wealth product


def test_reentry_never_and_after_a_cooldown(bank):
    tag = make_tag("进入")
    customer = bank.customers["a_own"]
    now = local(2026, 3, 2, 10)
    never = publish(bank, trigger=MANUAL, steps=[{"type": "tag", "action": "add", "tag": tag.pk}], name="一次")
    assert _enrol(never, customer, now=now) == [customer.pk]
    assert _enrol(never, customer, now=now) == []  # in progress
    runner.tick(now)
    assert enrol(never.live_version, [(customer.pk, "again", now + dt.timedelta(days=400))]) == []

    cool = publish(
        bank,
        trigger=MANUAL,
        steps=[{"type": "tag", "action": "add", "tag": tag.pk}],
        name="冷却",
        reentry="cooldown",
        cooldown_days=7,
    )
    assert enrol(cool.live_version, [(customer.pk, "k1", now)], now=now) == [customer.pk]
    runner.tick(now)
    assert enrol(cool.live_version, [(customer.pk, "k2", now)], now=now + dt.timedelta(days=6)) == []
    assert enrol(cool.live_version, [(customer.pk, "k3", now)], now=now + dt.timedelta(days=8)) == [customer.pk]
    assert list(Enrolment.objects.filter(playbook=cool).order_by("entry").values_list("entry", flat=True)) == [1, 2]
    # The same trigger event never enrols twice.
    runner.tick(now + dt.timedelta(days=8))
    assert enrol(cool.live_version, [(customer.pk, "k3", now)], now=now + dt.timedelta(days=30)) == []


# --- triggers ---------------------------------------------------------------------------------------------------


def test_tag_added_and_removed_triggers_read_new_changes_only(bank):
    silent = make_tag("沉默", kind="manual")
    mark = make_tag("唤醒中")
    a, b = bank.customers["a_own"], bank.customers["b_own"]
    tag_add([a.pk], silent, source=TagSource.MANUAL)  # before the playbook: does not count
    added = publish(
        bank,
        trigger={"type": "tag_added", "tag": silent.pk},
        steps=[{"type": "tag", "action": "add", "tag": mark.pk}],
        name="加",
    )
    removed = publish(
        bank,
        trigger={"type": "tag_removed", "tag": silent.pk},
        steps=[{"type": "tag", "action": "add", "tag": mark.pk}],
        name="减",
    )
    tag_add([b.pk], silent, source=TagSource.MANUAL)
    tag_remove([a.pk], silent, source=TagSource.MANUAL)
    triggers.scan()
    assert set(Enrolment.objects.filter(playbook=added).values_list("customer_id", flat=True)) == {b.pk}
    assert set(Enrolment.objects.filter(playbook=removed).values_list("customer_id", flat=True)) == {a.pk}
    triggers.scan()  # nothing new
    assert Enrolment.objects.count() == 2


def test_date_trigger_the_day_after_pay_day_once_a_day(bank):
    from tagging.models import Customer

    mark = make_tag("工资次日")
    a, b = bank.customers["a_own"], bank.customers["b_own"]
    Customer.objects.filter(pk=a.pk).update(payday=10)
    Customer.objects.filter(pk=b.pk).update(payday=11)
    trigger = {"type": "date", "attribute": "payday", "offset_days": 1, "time": "10:00"}
    playbook = publish(bank, trigger=trigger, steps=[{"type": "tag", "action": "add", "tag": mark.pk}])
    morning = local(2026, 3, 11, 7)
    triggers.scan(morning)
    row = enrolment(playbook, a)
    assert row is not None and row.due_at == local(2026, 3, 11, 10)
    assert enrolment(playbook, b) is None
    triggers.scan(morning + dt.timedelta(hours=1))  # once a day
    assert Enrolment.objects.filter(playbook=playbook).count() == 1


def test_salary_credited_trigger(bank):
    from integrations.bank.models import PayrollCredit

    mark = make_tag("到账次日")
    trigger = {"type": "date", "attribute": "payroll_credit", "offset_days": 1, "time": "10:00"}
    playbook = publish(bank, trigger=trigger, steps=[{"type": "tag", "action": "add", "tag": mark.pk}])
    a = bank.customers["a_own"]
    PayrollCredit.objects.create(customer=a, employer="某公司", amount=8000, credit_date=dt.date(2026, 3, 10))
    triggers.scan(local(2026, 3, 10, 20))
    assert enrolment(playbook, a).due_at == local(2026, 3, 11, 10)
    assert enrolment(playbook, a).trigger_key == "payroll:2026-03-10"


def test_new_contact_trigger_with_channel_filter(bank):
    from campaigns.channels.models import ChannelCode
    from tagging.models import FollowRelationship

    mark = make_tag("新客")
    code = ChannelCode.objects.create(name="网点海报", state="poster01", created_by=bank.user("admin"))
    any_channel = publish(
        bank, trigger={"type": "new_contact"}, steps=[{"type": "tag", "action": "add", "tag": mark.pk}], name="全部"
    )
    poster = publish(
        bank,
        trigger={"type": "new_contact", "channel_codes": [code.pk]},
        steps=[{"type": "tag", "action": "add", "tag": mark.pk}],
        name="海报",
    )
    customer = CustomerFactory(owner=bank.operators["operator_a"])
    FollowRelationship.objects.create(
        customer=customer, operator=bank.operators["operator_a"], added_at=timezone.now(), state="poster01"
    )
    other = CustomerFactory(owner=bank.operators["operator_a"])
    FollowRelationship.objects.create(customer=other, operator=bank.operators["operator_a"], added_at=timezone.now())
    assert triggers.enrol_new_contact(customer=customer, userid="operator_a") == [customer.pk, customer.pk]
    assert triggers.enrol_new_contact(customer=other, userid="operator_a") == [other.pk]
    assert triggers.enrol_new_contact(customer=customer, userid="operator_a") == []  # the same follow again
    assert enrolment(poster, other) is None and enrolment(any_channel, other) is not None


def test_segment_entry_checked_after_an_evaluation(bank):
    from tagging.models import Customer
    from tagging.segments.services import segment_create

    mark = make_tag("退休入群")
    segment = segment_create(
        name="退休客户",
        condition={"match": "all", "rules": [{"field": "occupation_group", "op": "in", "value": ["retiree"]}]},
        shared=True,
        owner=bank.user("admin"),
    )
    playbook = publish(
        bank,
        trigger={"type": "segment_entry", "segment": segment.pk},
        steps=[{"type": "tag", "action": "add", "tag": mark.pk}],
    )
    now = timezone.now()
    triggers.scan(now)  # the baseline: b_own is a retiree already and does not "enter"
    assert not Enrolment.objects.filter(playbook=playbook).exists()
    a = bank.customers["a_own"]
    Customer.objects.filter(pk=a.pk).update(occupation_group="retiree")
    triggers.scan(now + dt.timedelta(minutes=1))  # no evaluation since: not looked at
    assert not Enrolment.objects.filter(playbook=playbook).exists()
    triggers.scan(now + dt.timedelta(hours=1))
    assert list(Enrolment.objects.filter(playbook=playbook).values_list("customer_id", flat=True)) == [a.pk]


def test_paused_playbook_runs_nothing_and_archive_ends_enrolments(bank):
    tag = make_tag("暂停测试")
    playbook = publish(bank, trigger=MANUAL, steps=[{"type": "tag", "action": "add", "tag": tag.pk}])
    customer = bank.customers["a_own"]
    now = local(2026, 3, 2, 10)
    _enrol(playbook, customer, now=now)
    services.playbook_pause(playbook=playbook, actor=bank.user("admin"))
    assert runner.tick(now)["claimed"] == 0
    playbook.refresh_from_db()
    assert _enrol(playbook, CustomerFactory(), now=now) == []  # nobody enters a paused playbook
    services.playbook_archive(playbook=playbook, actor=bank.user("admin"))
    row = enrolment(playbook, customer)
    assert (row.state, row.exit_reason) == (Enrolment.State.EXITED, Enrolment.Reason.ARCHIVED)
    assert Playbook.objects.get(pk=playbook.pk).status == Playbook.Status.ARCHIVED


# --- versions and validation -------------------------------------------------------------------------------------


def test_running_enrolments_finish_on_their_version(bank):
    old_tag, new_tag = make_tag("旧版本"), make_tag("新版本")
    steps = [{"type": "delay", "days": 1}, {"type": "tag", "action": "add", "tag": old_tag.pk}]
    playbook = publish(bank, trigger=MANUAL, steps=steps)
    first_version = playbook.live_version
    a, b = bank.customers["a_own"], bank.customers["b_own"]
    now = local(2026, 3, 2, 10)
    _enrol(playbook, a, now=now)
    runner.tick(now)
    draft = services.version_draft(first_version) | {
        "steps": [
            {"key": "s1", "type": "delay", "days": 1},
            {"key": "s2", "type": "tag", "action": "add", "tag": new_tag.pk},
        ]
    }
    services.playbook_save(playbook=playbook, name=playbook.name, draft=draft, actor=bank.user("admin"))
    services.playbook_publish(playbook=playbook, actor=bank.user("admin"))
    playbook.refresh_from_db()
    assert playbook.live_version.number == 2
    _enrol(playbook, b, now=now)
    runner.tick(now)
    runner.tick(now + dt.timedelta(days=2))
    assert enrolment(playbook, a).version_id == first_version.pk
    assert CustomerTag.objects.filter(customer=a, tag=old_tag).exists()
    assert not CustomerTag.objects.filter(customer=a, tag=new_tag).exists()
    assert CustomerTag.objects.filter(customer=b, tag=new_tag).exists()
    # The published version itself never changed.
    first_version.refresh_from_db()
    assert first_version.steps[1]["tag"] == old_tag.pk


def test_a_step_can_skip_ahead(bank):
    first, skipped, last = make_tag("第一"), make_tag("被跳过"), make_tag("最后")
    steps = [
        {"type": "tag", "action": "add", "tag": first.pk, "after": "s3"},
        {"type": "tag", "action": "add", "tag": skipped.pk},
        {"type": "tag", "action": "add", "tag": last.pk},
    ]
    playbook = publish(bank, trigger=MANUAL, steps=steps)
    customer = bank.customers["a_own"]
    _enrol(playbook, customer, now=local(2026, 3, 2, 10))
    runner.tick(local(2026, 3, 2, 10))
    tags = set(CustomerTag.objects.filter(customer=customer).values_list("tag_id", flat=True))
    assert tags == {first.pk, last.pk}


def test_validation_names_the_place_to_fix_in_plain_words(bank):
    from campaigns.playbooks import spec

    tag = make_tag("校验")
    draft = {
        "trigger": {"type": "date", "attribute": "payday", "offset_days": "200", "time": "25:00"},
        "steps": [
            {
                "key": "s1",
                "type": "branch",
                "criterion": {"kind": "has_tag", "tag": tag.pk},
                "then": "s1",
                "else": "next",
            },
            {
                "key": "s2",
                "type": "ab_split",
                "arms": [{"name": "A", "weight": 50}, {"name": "B", "weight": 30}],
                "control": 10,
            },
            {"key": "s3", "type": "send", "content_item": 999999},
            {"key": "s4", "type": "task", "kind": "call", "title": ""},
            {"key": "s5", "type": "delay"},
        ],
        "reentry": "cooldown",
        "cooldown_days": 0,
    }
    with translation.override("en"), pytest.raises(spec.SpecError) as error:
        spec.validate(draft, user=bank.user("admin"))
    text = " | ".join(error.value.messages)
    for fragment in (
        "Trigger: the number of days",
        "Trigger: give the time of day",
        "Step 1 (Branch on a condition): a step can only lead to a step below it",
        "Step 2 (A/B split with a control group): the arms and the control group add up to 90%",
        "Step 3 (Send approved content (WeCom mass send)): choose approved content",
        "Step 4 (Create a task for the operator): give the task a title",
        "Step 5 (Wait for a while): say how long to wait",
        "Re-entry: the cool-down",
    ):
        assert fragment in text, (fragment, text)


def test_validation_messages_are_chinese(bank):
    from django.utils import translation

    from campaigns.playbooks import spec

    with translation.override("zh-hans"), pytest.raises(spec.SpecError) as error:
        spec.validate({"trigger": {"type": ""}, "steps": []})
    assert error.value.messages == ["触发条件：请选择什么情况下启动剧本。", "步骤：请至少添加一个步骤。"]


def test_unapproved_content_cannot_be_published(bank):
    from campaigns.content.services import content_create
    from campaigns.playbooks import spec

    draft_item = content_create(actor=bank.user("admin"), title="未审批", use="mass", text="草稿")
    with pytest.raises(spec.SpecError) as error:
        spec.validate({"trigger": MANUAL, "steps": [{"key": "s1", "type": "send", "content_item": draft_item.pk}]})
    assert "没有已审批且未过期的版本，需先经合规审批" in error.value.messages[0]


def test_a_broadcast_in_the_past_is_refused(bank):
    from campaigns.playbooks.services import PlaybookError
    from tagging.segments.services import segment_create

    tag = make_tag("过去")
    segment = segment_create(
        name="全部",
        condition={"match": "all", "rules": [{"field": "aum", "op": "gte", "value": "0"}]},
        shared=True,
        owner=bank.user("admin"),
    )
    trigger = {"type": "broadcast", "segment": segment.pk, "at": "2020-01-01T10:00"}
    with pytest.raises(PlaybookError):
        publish(bank, trigger=trigger, steps=[{"type": "tag", "action": "add", "tag": tag.pk}])


def test_segment_entry_can_include_existing_members(bank):
    from tagging.segments.services import segment_create

    mark = make_tag("现有成员")
    segment = segment_create(
        name="退休",
        condition={"match": "all", "rules": [{"field": "occupation_group", "op": "in", "value": ["retiree"]}]},
        shared=True,
        owner=bank.user("admin"),
    )
    trigger = {"type": "segment_entry", "segment": segment.pk, "include_existing": True}
    playbook = publish(bank, trigger=trigger, steps=[{"type": "tag", "action": "add", "tag": mark.pk}])
    triggers.scan()
    assert list(Enrolment.objects.filter(playbook=playbook).values_list("customer_id", flat=True)) == [
        bank.customers["b_own"].pk
    ]


def test_audience_criteria_filter_entrants(bank):
    vip = make_tag("贵宾", kind="manual")
    mark = make_tag("受众")
    playbook = publish(
        bank,
        trigger=MANUAL,
        steps=[{"type": "tag", "action": "add", "tag": mark.pk}],
        audience=[{"kind": "has_tag", "tag": vip.pk}],
    )
    a, b = bank.customers["a_own"], bank.customers["b_own"]
    tag_add([a.pk], vip, source=TagSource.MANUAL)
    assert _enrol(playbook, a, b, now=local(2026, 3, 2, 10)) == [a.pk]


def test_a_step_run_is_recorded_once(bank):
    tag = make_tag("一次")
    playbook = publish(bank, trigger=MANUAL, steps=[{"type": "tag", "action": "add", "tag": tag.pk}])
    now = local(2026, 3, 2, 12)
    _enrol(playbook, bank.customers["a_own"], now=now)
    items = runner.claim(playbook.pk, now, 10)
    first = runner._record(playbook.live_version, "s1", items, {items[0].id: "done"}, now)
    second = runner._record(playbook.live_version, "s1", items, {items[0].id: "done"}, now)
    assert first == {items[0].id} and second == set()
