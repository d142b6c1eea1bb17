from django import template

register = template.Library()


@register.simple_tag
def share(value, whole) -> str:
    """`value` as a percentage of `whole`, for a bar's CSS width (a dot as decimal separator in any language)."""
    if not whole:
        return "0"
    return f"{100 * (value or 0) / whole:.2f}"
