"""The quick-reply page (话术库) at /content/quick-replies/: approved scripts, searchable, filled for a customer.

Thin: the items come from `quick_replies` (the library's scope), the customer from the data-scope selector (an
id out of scope is a 404, so the page never fills in a stranger's name).
"""

from django.db.models import Q
from django.shortcuts import render

from campaigns.content import quick_replies, selectors
from campaigns.content.models import ContentItem, Scenario
from workbench.org.scope import get_visible_customer, may_author_content, viewer_for, visible_customers
from workbench.web.access import staff_required

CUSTOMER_MATCHES = 8


def _customer_matches(user, who: str):
    who = who.strip()
    if not who:
        return []
    found = visible_customers(user).filter(Q(name__startswith=who) | Q(customer_no=who))
    return list(found.order_by("name", "pk")[:CUSTOMER_MATCHES])


@staff_required
def quick_reply_list(request):
    request.workbench_section = "quick-replies"
    filters = {key: request.GET.get(key, "").strip() for key in ("q", "category", "scenario", "customer", "who")}
    customer = get_visible_customer(request.user, filters["customer"]) if filters["customer"] else None
    items = quick_replies.search(quick_replies.for_user(request.user), **{
        key: filters[key] for key in ("q", "category", "scenario")
    })  # fmt: skip
    operator = viewer_for(request.user).operator
    context = {
        "filters": filters,
        "customer": customer,
        "matches": _customer_matches(request.user, filters["who"]),
        "replies": quick_replies.filled(items, operator=operator, customer=customer),
        "categories": selectors.categories(),
        "scenarios": Scenario.choices,
        "may_author": may_author_content(request.user),
        "quick_reply_use": ContentItem.Use.QUICK_REPLY,
    }
    template = "content/_quick_reply_rows.html" if request.htmx else "content/quick_replies.html"
    return render(request, template, context)
