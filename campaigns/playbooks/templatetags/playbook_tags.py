"""Small helpers of the builder's templates: values typed in forms are strings, stored ones are numbers."""

import json

from django import template

from campaigns.playbooks import spec

register = template.Library()


@register.filter
def same(value, other) -> bool:
    """Equal as text (a tag id typed in a form and one stored as a number)."""
    return str(value if value is not None else "") == str(other if other is not None else "")


@register.filter
def has(values, value) -> bool:
    """`value` is one of `values`, compared as text."""
    return str(value) in {str(item) for item in (values or [])}


@register.simple_tag
def later_steps(steps, key):
    """(key, label) of the steps after `key`: where a branch, an arm or a time-out may lead."""
    keys = [step.get("key") for step in steps]
    if key not in keys:
        return []
    position = keys.index(key)
    return [
        (step["key"], f"{index + 1}. {spec.STEP_TYPES.get(step.get('type'), '')}")
        for index, step in enumerate(steps)
        if index > position
    ]


@register.filter
def step_label(kind) -> str:
    return str(spec.STEP_TYPES.get(kind, ""))


@register.filter
def trigger_label(kind) -> str:
    return str(spec.TRIGGER_TYPES.get(kind, ""))


@register.filter
def local_input(value) -> str:
    """A stored ISO datetime as the value of an <input type="datetime-local">."""
    return str(value or "")[:16]


@register.filter
def as_json(value) -> str:
    """For a hidden input: the value as JSON (the template escapes it for the attribute)."""
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


@register.filter
def outcome(value) -> str:
    from campaigns.playbooks.selectors import outcome_label

    return outcome_label(str(value))
