"""Quick replies (话术库): content like any other (maker-checker), filed by scenario, filled for a customer."""

import pytest
from django.urls import reverse

from campaigns.content import quick_replies, services
from campaigns.content.management.commands.seed_content_demo import Command as SeedContent
from campaigns.content.models import ContentItem, ContentVersion, Scenario
from tagging.models import Customer
from tests.sidebar.support import approved_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def replies(bank):
    admin, reviewer = bank.users["admin"], bank.users["reviewer"]
    return {
        "payroll": approved_item(
            author=admin, reviewer=reviewer, title="代发日问候", scenario=Scenario.PAYROLL,
            text="{{salutation}}您好，我是{{operator_name}}。工资已到账，{{customer_name}}请查收。",
        ),
        "fraud": approved_item(
            author=admin, reviewer=reviewer, title="验证码不外泄", scenario=Scenario.ANTI_FRAUD,
            text="{{salutation}}，银行不会索要验证码。",
        ),
        "pending": approved_item(
            author=admin, reviewer=reviewer, title="待审话术", text="{{salutation}}尚未审批", approve=False
        ),
    }  # fmt: skip


def test_quick_replies_take_per_customer_variables_and_go_through_review(bank):
    item = services.content_create(
        actor=bank.users["admin"], title="问候", use=ContentItem.Use.QUICK_REPLY, text="{{customer_name}}您好"
    )
    assert item.per_customer_allowed and item.scenario == Scenario.GENERAL
    version = services.content_submit(version=item.versions.get(), actor=bank.users["admin"])
    assert quick_replies.for_user(bank.users["operator_a"]).count() == 0  # submitted is not approved
    with pytest.raises(services.ContentError):
        services.content_approve(version=version, reviewer=bank.users["admin"])  # an author never approves
    services.content_approve(version=version, reviewer=bank.users["reviewer"])
    assert list(quick_replies.for_user(bank.users["operator_a"])) == [item]
    # Mass content still may not name the customer.
    with pytest.raises(services.ContentError):
        services.content_create(
            actor=bank.users["admin"], title="群发", use=ContentItem.Use.MASS, text="{{customer_name}}"
        )


def test_the_page_lists_approved_replies_filled_for_the_chosen_customer(login, bank, replies):
    customer = bank.customers["a_own"]
    Customer.objects.filter(pk=customer.pk).update(name="王丽", gender="F")
    client = login("operator_a")
    response = client.get(reverse("content:quick-replies"), {"customer": customer.pk})
    assert response.status_code == 200
    body = response.content.decode()
    assert "王女士您好，我是赵甲。工资已到账，王丽请查收。" in body
    assert "王女士，银行不会索要验证码。" in body
    assert "待审话术" not in body and "尚未审批" not in body
    unchosen = client.get(reverse("content:quick-replies")).content.decode()
    assert "尊敬的客户您好，我是赵甲。工资已到账，客户请查收。" in unchosen
    assert "{{" not in unchosen


def test_the_page_searches_and_filters_by_scenario(login, replies):
    client = login("operator_a")
    only_fraud = client.get(reverse("content:quick-replies"), {"scenario": "anti_fraud"}).context["replies"]
    assert [reply.item.title for reply in only_fraud] == ["验证码不外泄"]
    found = client.get(reverse("content:quick-replies"), {"q": "工资"}).context["replies"]
    assert [reply.item.title for reply in found] == ["代发日问候"]
    matches = client.get(reverse("content:quick-replies"), {"who": "甲客户"}).context["matches"]
    assert {customer.name for customer in matches} == {"甲客户壹", "甲客户贰"}  # not 甲客户叁: unfollowed


def test_a_customer_out_of_scope_is_not_found_and_never_named(login, bank, replies):
    stranger = bank.customers["b_own"]
    response = login("operator_a").get(reverse("content:quick-replies"), {"customer": stranger.pk})
    assert response.status_code == 404 and stranger.name not in response.content.decode()
    matches = login("operator_a").get(reverse("content:quick-replies"), {"who": "乙客户壹"}).context["matches"]
    assert matches == []


def test_the_library_files_content_by_scenario(login, bank, replies):
    client = login("admin")
    listed = client.get(reverse("content:list"), {"scenario": "payroll"}).context["page"]
    assert [item.title for item in listed] == ["代发日问候"]
    created = client.post(
        reverse("content:create"),
        {"title": "退休问候", "use": "quick_reply", "scenario": "retiree", "text": "{{salutation}}您好"},
    )
    assert created.status_code == 302
    assert ContentItem.objects.get(title="退休问候").scenario == Scenario.RETIREE


def test_the_sidebar_recommends_by_the_customers_scenarios(bank, replies):
    retiree = bank.customers["b_own"]  # a retiree with 250,000 yuan
    assert quick_replies.scenarios_of(retiree)[:2] == [Scenario.RETIREE, Scenario.WEALTH]
    payroll = bank.customers["a_own"]
    Customer.objects.filter(pk=payroll.pk).update(payroll_employer="杭州钢铁集团", payday=15)
    payroll.refresh_from_db()
    titles = [item.title for item in quick_replies.recommended(bank.operators["operator_a"], payroll)]
    assert titles == ["代发日问候", "验证码不外泄"]


def test_the_demo_seeds_a_dozen_approved_quick_replies_per_scenario_once(bank):
    users = {"admin": bank.users["admin"], "reviewer": bank.users["reviewer"]}
    from campaigns.content.demo_quick_replies import CATEGORIES
    from campaigns.content.models import ContentCategory

    for name in CATEGORIES:
        ContentCategory.objects.get_or_create(name=name)
    assert SeedContent().quick_replies(users) == 60
    items = ContentItem.objects.filter(use=ContentItem.Use.QUICK_REPLY)
    assert items.count() == 60
    for scenario in Scenario.values:
        assert items.filter(scenario=scenario, current__status=ContentVersion.Status.APPROVED).count() == 12, scenario
    assert SeedContent().quick_replies(users) == 0
