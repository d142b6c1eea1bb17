"""Attribution edge cases (window 7 days unless a test sets otherwise) and playbook uplift."""

import datetime as dt

import pytest

from campaigns.playbooks.models import Enrolment, Playbook, PlaybookVersion, StepRun
from tests.factories import CustomerFactory
from tests.supervision.support import chat, content_version, delivery, local, operator_task, purchase
from workbench.supervision import attribution, selectors
from workbench.supervision.models import Attribution, TouchKind

P = local(2026, 10, 10, 15)  # the purchase


@pytest.fixture
def customer(bank):
    return CustomerFactory(owner=bank.operators["operator_a"], name="归因客户")


def _attribute():
    attribution.attribute_days(dt.date(2026, 10, 1), dt.date(2026, 10, 20))


def test_two_touches_the_last_one_wins(bank, customer):
    version = content_version(bank)
    delivery(bank.operators["operator_b"], version, customer, at=P - dt.timedelta(days=3))
    last = chat(bank.operators["operator_a"], customer, at=P - dt.timedelta(days=1))
    made = purchase(customer, at=P, amount="20000.00")
    _attribute()
    row = Attribution.objects.get(purchase=made)
    assert (row.operator, row.touch_kind, row.touch_id) == (bank.operators["operator_a"], TouchKind.CHAT, last.pk)
    assert row.touched_at == last.sent_at and row.window_days == 7 and row.amount == made.amount


def test_a_delivery_carries_its_source(bank, customer):
    sent = delivery(bank.operators["operator_b"], content_version(bank), customer, at=P - dt.timedelta(hours=2))
    made = purchase(customer, at=P)
    _attribute()
    row = Attribution.objects.get(purchase=made)
    assert (row.operator, row.touch_kind, row.touch_id) == (bank.operators["operator_b"], TouchKind.DELIVERY, sent.pk)
    assert (row.source_kind, row.source_id) == ("test", sent.source_id)


def test_a_touch_exactly_at_the_window_edge_is_inside(bank, customer):
    chat(bank.operators["operator_a"], customer, at=P - dt.timedelta(days=7))
    made = purchase(customer, at=P)
    _attribute()
    assert Attribution.objects.get(purchase=made).operator == bank.operators["operator_a"]


def test_a_touch_a_second_before_the_window_is_outside(bank, customer):
    chat(bank.operators["operator_a"], customer, at=P - dt.timedelta(days=7, seconds=1))
    made = purchase(customer, at=P)
    _attribute()
    row = Attribution.objects.get(purchase=made)
    assert row.operator is None and row.touch_kind == "" and row.touch_id is None


def test_touches_at_or_after_the_purchase_are_ignored(bank, customer):
    chat(bank.operators["operator_a"], customer, at=P)
    operator_task(bank.operators["operator_a2"], customer, due_at=P, done_at=P + dt.timedelta(minutes=1))
    made = purchase(customer, at=P)
    _attribute()
    assert Attribution.objects.get(purchase=made).operator is None


def test_open_tasks_do_not_touch_and_ties_go_to_the_more_personal_touch(bank, customer):
    at = P - dt.timedelta(hours=5)
    operator_task(bank.operators["operator_b"], customer, due_at=at)  # open: not a touch
    task = operator_task(bank.operators["operator_a2"], customer, due_at=at, done_at=at)
    delivery(bank.operators["operator_b"], content_version(bank), customer, at=at)
    made = purchase(customer, at=P)
    _attribute()
    row = Attribution.objects.get(purchase=made)
    assert (row.touch_kind, row.touch_id) == (TouchKind.TASK, task.pk)
    message = chat(bank.operators["operator_a"], customer, at=at)
    _attribute()
    row.refresh_from_db()
    assert (row.touch_kind, row.touch_id, row.operator) == (TouchKind.CHAT, message.pk, bank.operators["operator_a"])


def test_no_touch_is_one_unattributed_row_and_reruns_replace_rows(bank, customer):
    made = purchase(customer, at=P, amount="3000.00")
    _attribute()
    _attribute()
    assert Attribution.objects.filter(purchase=made).count() == 1
    summary = selectors.attribution_summary(bank.user("admin"), start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31))
    assert summary["unattributed"] == 1 and str(summary["unattributed_amount"]) == "3000.00"
    assert summary["attributed"] == 0
    october = {"start": dt.date(2026, 10, 1), "end": dt.date(2026, 10, 31)}
    manager = selectors.attribution_summary(bank.user("manager_a"), **october)
    assert manager["unattributed"] is None  # nobody's purchases are head office's to see


def test_the_window_is_the_contact_policys(bank, customer):
    from campaigns.delivery.policy import policy_update

    chat(bank.operators["operator_a"], customer, at=P - dt.timedelta(days=3))
    made = purchase(customer, at=P)
    _attribute()
    assert Attribution.objects.get(purchase=made).operator is not None
    policy_update(actor=None, conversion_window_days=2)  # head office changes it on 触达规则
    _attribute()
    row = Attribution.objects.get(purchase=made)
    assert row.operator is None and row.window_days == 2


def test_new_purchases_are_picked_up_once(bank, customer):
    chat(bank.operators["operator_a"], customer, at=P - dt.timedelta(days=1))
    purchase(customer, at=P)
    assert attribution.attribute_new_purchases() == {dt.date(2026, 10, 10)}
    assert attribution.attribute_new_purchases() == set()
    assert Attribution.objects.count() == 1


# --- uplift ----------------------------------------------------------------------------------------------


def _draws(playbook, version, outcome: str, n: int, converted: int, *, at):
    for index in range(n):
        customer = CustomerFactory(owner=None, name=f"{outcome}{index}")
        enrolment = Enrolment.objects.create(
            playbook=playbook, version=version, customer=customer, entry=1, trigger_key="t", entered_at=at
        )
        StepRun.objects.create(version=version, step_key="s1", customer_id=customer.pk, entry=1,
                               enrolment=enrolment, outcome=outcome, at=at)  # fmt: skip
        if index < converted:
            purchase(customer, at=at + dt.timedelta(days=2))
        elif index == converted:
            purchase(customer, at=at - dt.timedelta(hours=1))  # bought before the draw: not a conversion
            purchase(customer, at=at + dt.timedelta(days=8))  # after the window: not one either


def test_playbook_uplift_against_the_control_group(db):
    playbook = Playbook.objects.create(name="工资理财")
    version = PlaybookVersion.objects.create(playbook=playbook, number=1, steps=[])
    at = local(2026, 10, 1, 10)
    _draws(playbook, version, "arm:A", 12, 4, at=at)
    _draws(playbook, version, "arm:B", 8, 2, at=at)
    _draws(playbook, version, "control", 10, 1, at=at)
    uplift = selectors.playbook_uplift(playbook)
    # Treated 6/20 = 0.30, control 1/10 = 0.10; SE = √(0.3·0.7/20 + 0.1·0.9/10) = √0.0195 = 0.1396424;
    # 95 % interval 0.20 ± 1.959964 × 0.1396424 = 0.20 ± 0.273694 = [−0.073694, 0.473694].
    assert (uplift["treated"], uplift["treated_converted"], uplift["control"], uplift["control_converted"]) == (
        20,
        6,
        10,
        1,
    )
    assert uplift["uplift"] == pytest.approx(0.20)
    assert uplift["ci_low"] == pytest.approx(-0.073694, abs=1e-6)
    assert uplift["ci_high"] == pytest.approx(0.473694, abs=1e-6)
    assert uplift["significant"] is False and uplift["window_days"] == 7


def test_uplift_without_a_control_group_has_no_interval(db):
    playbook = Playbook.objects.create(name="无对照")
    version = PlaybookVersion.objects.create(playbook=playbook, number=1, steps=[])
    _draws(playbook, version, "arm:A", 3, 1, at=local(2026, 10, 1, 10))
    uplift = selectors.playbook_uplift(playbook)
    assert uplift["treated_rate"] == pytest.approx(1 / 3)
    assert uplift["control_rate"] is None and uplift["uplift"] is None and uplift["ci_low"] is None


def test_a_clear_difference_is_significant():
    result = selectors.uplift_from_counts(treated=1000, treated_converted=300, control=1000, control_converted=100)
    assert result["significant"] is True and result["ci_low"] > 0


def test_uplift_is_cached_until_the_beat_measures_it_again(db):
    from workbench.supervision.services import refresh_playbook_uplifts

    playbook = Playbook.objects.create(name="缓存")
    version = PlaybookVersion.objects.create(playbook=playbook, number=1, steps=[])
    at = local(2026, 10, 1, 10)
    _draws(playbook, version, "arm:A", 4, 0, at=at)
    _draws(playbook, version, "control", 4, 0, at=at)
    assert selectors.playbook_uplift(playbook)["treated_converted"] == 0
    run = StepRun.objects.filter(version=version, outcome="arm:A").first()
    purchase(run.enrolment.customer, at=at + dt.timedelta(days=1))
    assert selectors.playbook_uplift(playbook)["treated_converted"] == 0  # the cached answer
    assert refresh_playbook_uplifts() == 1
    assert selectors.playbook_uplift(playbook)["treated_converted"] == 1
