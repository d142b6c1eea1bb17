"""Quick replies (话术库): approved scripts an operator pastes into a 1:1 chat, by category and scenario.

A quick reply is a content item used for `quick_reply`: head office writes it and compliance approves it like any
content (the same maker-checker), and only the approved, unexpired version in use is ever listed. Its text is
shown with the variables filled: the operator's always, the customer's for the customer the operator chose (the
fallbacks, 尊敬的客户, when none is chosen). Reads only; sending happens in the WeCom sidebar.
"""

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from campaigns.content import variables
from campaigns.content.models import ContentItem, ContentVersion, Scenario
from campaigns.content.selectors import usable_items, usable_items_of_branch

QUICK_REPLY = ContentItem.Use.QUICK_REPLY
# What the sidebar recommends besides quick replies: approved mass content fits a 1:1 chat as well.
RECOMMENDABLE_USES = [ContentItem.Use.QUICK_REPLY, ContentItem.Use.MASS]

# Occupation groups and tag-name words that put a customer in a scenario (the sidebar's recommendations).
_RETIREE_GROUP = "retiree"
_TAG_WORDS = {
    Scenario.PAYROLL: ("代发", "工资"),
    Scenario.RETIREE: ("退休", "养老"),
    Scenario.WEALTH: ("理财", "基金", "资产", "到期"),
}
WEALTH_AUM = 50_000  # yuan: from here on a customer hears about wealth products


@dataclass(frozen=True)
class FilledReply:
    item: ContentItem
    version: ContentVersion
    text: str  # the version's text with the variables filled in

    @property
    def attachment_count(self) -> int:
        return len(self.version.attachments)


def for_user(user) -> QuerySet[ContentItem]:
    """Quick replies a workbench user may use (the library's scope: their branch and above)."""
    return usable_items(user, uses=[QUICK_REPLY]).select_related("category")


def for_operator(operator, *, uses=(QUICK_REPLY,)) -> QuerySet[ContentItem]:
    """Quick replies (or other uses) the operator may send, for the sidebar, which knows the operator only."""
    return usable_items_of_branch(operator.branch.path, uses=list(uses))


def search(items: QuerySet[ContentItem], *, q: str = "", category: str = "", scenario: str = "") -> QuerySet:
    """Filter by words in the title or the approved text, category and scenario; library order."""
    q = (q or "").strip()
    if q:
        items = items.filter(Q(title__icontains=q) | Q(current__text__icontains=q))
    if str(category).isdecimal():
        items = items.filter(category_id=int(category))
    if scenario in Scenario.values:
        items = items.filter(scenario=scenario)
    return items.order_by("category__order", "category__name", "title", "pk")


def values_for(*, operator=None, customer=None) -> dict[str, str]:
    """The variables' values: the operator's, and the customer's (or their fallbacks)."""
    values = variables.sender_values(operator)
    if customer is not None:
        return values | variables.customer_values(name=customer.name, gender=customer.gender)
    return values | variables.customer_values()


def filled(items, *, operator=None, customer=None) -> list[FilledReply]:
    # Without an operator (a superuser) the sender's variables show their samples rather than raw {{…}}. One pass:
    # a value (a customer's WeChat nickname such as "{{branch_name}}") is shown as written, never filled again.
    values = variables.sample_values() | values_for(operator=operator, customer=customer)
    shown = []
    for item in items:
        version = item.current
        shown.append(FilledReply(item=item, version=version, text=variables.fill(version.text, values)))
    return shown


def scenarios_of(customer, tag_names=()) -> list[str]:
    """The scenarios that fit a customer, most specific first; general and anti-fraud always fit."""
    found = []
    names = " ".join(tag_names)
    if customer.payroll_employer or customer.payday or any(word in names for word in _TAG_WORDS[Scenario.PAYROLL]):
        found.append(Scenario.PAYROLL)
    if customer.occupation_group == _RETIREE_GROUP or any(word in names for word in _TAG_WORDS[Scenario.RETIREE]):
        found.append(Scenario.RETIREE)
    if (customer.aum or 0) >= WEALTH_AUM or any(word in names for word in _TAG_WORDS[Scenario.WEALTH]):
        found.append(Scenario.WEALTH)
    return [*found, Scenario.ANTI_FRAUD, Scenario.GENERAL]


def recommended(operator, customer, *, tag_names=(), limit: int = 6) -> list[ContentItem]:
    """Approved content and quick replies for this customer's scenarios, the most specific scenario first."""
    order = {scenario: rank for rank, scenario in enumerate(scenarios_of(customer, tag_names))}
    items = list(for_operator(operator, uses=RECOMMENDABLE_USES).filter(scenario__in=list(order)))
    items.sort(key=lambda item: (order[item.scenario], item.use != QUICK_REPLY, item.title))
    return items[:limit]
