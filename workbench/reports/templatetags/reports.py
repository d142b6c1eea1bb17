from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


@register.simple_tag
def figure(value, kind: str = "int") -> str:
    """A report figure as people read it: 1,234 · 56.7% · ¥1,234,567; a rate without a denominator is "—"."""
    if value is None:
        return "—"
    if kind == "percent":
        return f"{float(value) * 100:.1f}%"
    if kind == "money":
        return f"¥{float(value):,.0f}"
    return intcomma(value, use_l10n=False)
