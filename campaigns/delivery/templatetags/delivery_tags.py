from django import template

from campaigns.delivery import selectors

register = template.Library()


@register.simple_tag
def funnel_steps(funnel):
    """(key, label, count, percent of planned) for each step of a delivery funnel."""
    return selectors.funnel_steps(funnel or {})


@register.inclusion_tag("delivery/_dnd_card.html", takes_context=True)
def contact_preference_card(context, customer):
    """The do-not-disturb card of the customer page (the customer is already in the viewer's scope)."""
    return {"customer": customer, "preference": selectors.preference_of(customer), "request": context.get("request")}


@register.filter
def counts_of(counts, task_id):
    """The per-status delivery counts of one send task ({} when it has none)."""
    return (counts or {}).get(task_id, {})
