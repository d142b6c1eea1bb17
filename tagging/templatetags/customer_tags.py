"""Template tags that put the tag system on the customer pages without touching their views.

{% load customer_tags %}
{% customer_tags_card customer %}   the customer page's tags card (current tags, add / remove / pin)
{% bulk_tag_form %}                 the customer list's "tag every customer matching these filters" form
"""

from django import template

from tagging.tags import selectors
from tagging.tags.views import customer_card_context

register = template.Library()


@register.inclusion_tag("tags/_customer_tags.html", takes_context=True)
def customer_tags_card(context, customer):
    return customer_card_context(customer) | {"csrf_token": context.get("csrf_token")}


@register.inclusion_tag("tags/_bulk_form.html", takes_context=True)
def bulk_tag_form(context):
    return {
        "bulk_tags": selectors.bulk_tag_choices(),
        "filter": context.get("filter"),
        "csrf_token": context.get("csrf_token"),
    }
