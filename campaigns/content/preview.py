"""Content as the customer will see it in WeChat, for the editor's live preview and the reviewer's page.

The text is escaped, its sensitive words wrapped in <mark>, its variables shown as their sample values (a
per-customer variable in mass-send content shown as an error), its links underlined, its line breaks kept.
Attachments become the cards WeChat shows: image, link, mini-program, file, video.
"""

import re

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe

from campaigns.content import sensitive, variables
from campaigns.content.models import PER_CUSTOMER_USES, TEXT_MAX_BYTES, ContentAsset
from campaigns.content.selectors import sensitive_word_list
from campaigns.content.services import validation_errors

_URL = re.compile(r"https?://[^\s<>\"'，。！？；：、（）【】《》「」]+")


def _rich(value: str, words: list[str], *, per_customer_allowed: bool):
    html = str(sensitive.highlight(value, sensitive.find(value, words)))

    def chip(match):
        variable = variables.VARIABLES.get(match.group(1))
        if variable is None or (variable.per_customer and not per_customer_allowed):
            return f'<span class="var var-bad" title="{escape(match.group(0))}">{escape(match.group(0))}</span>'
        return f'<span class="var" title="{escape(variable.label)}">{escape(variable.sample)}</span>'

    html = variables.VARIABLE.sub(chip, html)
    html = _URL.sub(lambda match: f'<span class="url">{match.group(0)}</span>', html)
    return mark_safe(html.replace("\n", "<br>"))  # noqa: S308 - built from escaped text and our own markup


def preview(*, text: str, attachments: list[dict], use: str, words: list[str] | None = None) -> dict:
    words = sensitive_word_list() if words is None else words
    per_customer = use in PER_CUSTOMER_USES
    assets = {
        asset.pk: asset
        for asset in ContentAsset.objects.filter(pk__in=[a["asset"] for a in attachments if a.get("asset")]).defer(
            "data"
        )
    }
    cards = []
    for index, attachment in enumerate(attachments):
        asset = assets.get(attachment.get("asset"))
        card = {
            "index": index,
            "type": attachment["type"],
            "title": _rich(attachment.get("title") or "", words, per_customer_allowed=per_customer),
            "desc": _rich(attachment.get("desc") or "", words, per_customer_allowed=per_customer),
            "url": attachment.get("url", ""),
            "appid": attachment.get("appid", ""),
            "page": attachment.get("page", ""),
            "asset": asset,
            "asset_url": reverse("content:asset", args=[asset.pk]) if asset else "",
        }
        cards.append(card)
    hits = []
    for value in [text or ""] + [v for a in attachments for v in (a.get("title") or "", a.get("desc") or "")]:
        for word in sensitive.words_of(sensitive.find(value, words)):
            if word not in hits:
                hits.append(word)
    return {
        "sender": variables.VARIABLES["operator_name"].sample,
        "html": _rich(text or "", words, per_customer_allowed=per_customer),
        "attachments": cards,
        "hits": hits,
        "errors": validation_errors(text=text or "", attachments=attachments, use=use),
        "bytes": len((text or "").encode()),
        "max_bytes": TEXT_MAX_BYTES,
        "variables": variables.used(text or ""),
    }
