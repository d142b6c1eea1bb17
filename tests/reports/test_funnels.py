"""Playbook funnels: deliveries and link clicks per playbook source by sender, conversions from Attribution, all
limited to the report's node and period (through the per-source day rows the daily facts write)."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.delivery.models import Delivery, SendTask
from campaigns.links.models import LinkClick, TrackedLink
from integrations.bank.models import ProductPurchase
from tagging.models import Product
from tests.delivery.support import mass_content
from tests.reports.support import DAY1, DAY2
from workbench.reports import selectors
from workbench.reports.funnels import playbook_funnels
from workbench.reports.periods import Period
from workbench.supervision.models import Attribution
from workbench.supervision.services import compute_range

PERIOD = Period("custom", DAY1, DAY2)
CHINA = timezone.get_fixed_timezone(480)
INSIDE = datetime(2026, 11, 9, 10, 0, tzinfo=CHINA)
BEFORE = datetime(2026, 11, 8, 23, 30, tzinfo=CHINA)  # the evening before the period: not counted


@pytest.fixture
def playbook_activity(bank):
    version = mass_content(bank)
    ops, customers = bank.operators, bank.customers
    tasks = {}
    for persona in ("operator_a", "operator_b"):
        tasks[persona] = SendTask.objects.create(
            source_kind="playbook",
            source_id=101,
            step_key="s1",
            sender=ops[persona],
            content_version=version,
            recipients=2,
            marker=f"m-{persona}",
            deadline_at=INSIDE + timedelta(days=1),
        )
    deliveries = [
        ("a_own", "operator_a", INSIDE),
        ("a_followed", "operator_a", INSIDE),
        ("a_unfollowed", "operator_a", BEFORE),
        ("b_own", "operator_b", INSIDE),
    ]
    for customer, sender, at in deliveries:
        Delivery.objects.create(
            source_kind="playbook",
            source_id=101,
            step_key="s1",
            customer=customers[customer],
            sender=ops[sender],
            content_version=version,
            status=Delivery.Status.DELIVERED,
            due_at=at,
            result_at=at,
            send_task=tasks[sender],
        )
    for persona, clicks in (("operator_a", [INSIDE, INSIDE, BEFORE]), ("operator_b", [INSIDE])):
        link = TrackedLink.objects.create(
            token=f"t{persona}",
            key=f"k{persona}",
            url="https://bank.example/p",
            sender=ops[persona],
            context=TrackedLink.Context.PLAYBOOK,
            context_id=tasks[persona].pk,
        )
        for number, at in enumerate(clicks):
            click = LinkClick.objects.create(link=link, visitor=f"v{number}")
            LinkClick.objects.filter(pk=click.pk).update(clicked_at=at)
    product = Product.objects.create(code="P1", name="稳健理财", category="wealth")
    for customer, operator, amount, at in (
        ("a_own", "operator_a", "50000", INSIDE),
        ("b_own", "operator_b", "9", INSIDE),
    ):
        purchase = ProductPurchase.objects.create(
            customer=customers[customer], product=product, amount=Decimal(amount), purchased_at=at, reference=customer
        )
        Attribution.objects.create(
            purchase=purchase,
            customer=customers[customer],
            operator=ops[operator],
            touch_kind="delivery",
            source_kind="playbook",
            source_id=101,
            amount=Decimal(amount),
            purchased_at=at,
            window_days=7,
        )
    compute_range(BEFORE.date(), DAY2)  # the funnels read the days' per-source rows, written with the facts


def test_branch_funnel_counts_its_senders_in_the_period(bank, playbook_activity):
    [funnel] = playbook_funnels(selectors.branch_node(bank.branch_a), PERIOD)
    assert (funnel["source_kind"], funnel["source_id"], funnel["label"]) == ("playbook", 101, "playbook #101")
    assert (funnel["delivered"], funnel["clicked"], funnel["converted"]) == (2, 2, 1)
    assert funnel["amount"] == Decimal("50000")
    assert funnel["click_rate"] == pytest.approx(1.0) and funnel["conversion_rate"] == pytest.approx(0.5)
    assert funnel["uplift"] is None  # no such playbook version, so no control group to compare with


def test_bank_funnel_adds_every_branch(bank, playbook_activity):
    [funnel] = playbook_funnels(selectors.bank_node(), PERIOD)
    assert (funnel["delivered"], funnel["clicked"], funnel["converted"]) == (3, 3, 2)


def test_an_operator_without_sends_has_no_funnel(bank, playbook_activity):
    assert playbook_funnels(selectors.operator_node(bank.operators["operator_a2"]), PERIOD) == []


def test_the_dashboard_shows_the_funnel_table(bank, login, playbook_activity):
    from django.urls import reverse

    response = login("manager_a").get(
        reverse("reports:index"), {"period": "custom", "start": DAY1.isoformat(), "end": DAY2.isoformat()}
    )
    assert response.context["funnels"][0]["delivered"] == 2
    assert 'data-testid="funnels"' in response.content.decode()


def test_a_playbook_with_a_control_group_shows_its_uplift(bank, login, playbook_activity):
    """Two customers drawn into an arm (one bought within the window), two held out (none bought)."""
    from django.urls import reverse

    from campaigns.playbooks.models import Enrolment, StepRun
    from tests.scope_probes_playbooks import _playbook

    playbook = _playbook(type("Ctx", (), {"bank": bank})())
    version = playbook.live_version
    draws = [("a_own", "arm:A"), ("a_followed", "arm:A"), ("a_unfollowed", "control"), ("a_branch", "control")]
    for customer, outcome in draws:
        enrolment = Enrolment.objects.create(
            playbook=playbook, version=version, customer=bank.customers[customer], entry=1, trigger_key="t",
            entered_at=INSIDE - timedelta(days=1),
        )  # fmt: skip
        StepRun.objects.create(
            version=version, step_key="ab", customer_id=enrolment.customer_id, entry=1, enrolment=enrolment,
            outcome=outcome, at=INSIDE - timedelta(days=1),
        )  # fmt: skip
    Delivery.objects.filter(source_id=101).update(source_id=version.pk)
    SendTask.objects.filter(source_id=101).update(source_id=version.pk)
    Attribution.objects.filter(source_id=101).update(source_id=version.pk)
    compute_range(BEFORE.date(), DAY2)

    [funnel] = playbook_funnels(selectors.branch_node(bank.branch_a), PERIOD)
    assert funnel["uplift"]["uplift"] == pytest.approx(0.5)  # 1 of 2 treated bought, 0 of 2 held out
    assert funnel["uplift"]["ci_low"] < 0.5 < funnel["uplift"]["ci_high"]
    response = login("manager_a").get(
        reverse("reports:index"), {"period": "custom", "start": DAY1.isoformat(), "end": DAY2.isoformat()}
    )
    assert response.context["has_uplift"]
    assert "50.0%" in response.content.decode()
