from django import template

register = template.Library()


@register.filter
def audit_value(value) -> str:
    """A detail value as a person reads it: lists joined, mappings as key=value, nothing as —."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, list | tuple):
        return "、".join(audit_value(item) for item in value)
    if isinstance(value, dict):
        return "，".join(f"{key}={audit_value(item)}" for key, item in value.items())
    return str(value)
