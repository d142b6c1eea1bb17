"""Writes of link tracking: the redirect URLs put into content at send time, and the clicks on them.

`tracked_url` is called when content is used (a welcome message rendered, a playbook's message built): the
link row carries the content version, the sender and the context, so every click is credited to them. A click
inside WeChat first goes through WeCom's web OAuth (`/connect/oauth2/authorize`); `auth/getuserinfo` then names
the visitor: a customer's external_userid, a WeChat openid, or a member's userid.
"""

import hashlib
import hmac
import logging
import re
import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse

from campaigns.links.models import LinkClick, TrackedLink
from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComError
from tagging.models import Customer

logger = logging.getLogger(__name__)

# URLs inside a text: up to whitespace, quotes, angle brackets or Chinese punctuation (which never ends a URL).
URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'，。！？；：、（）【】《》「」]+")
# Repeat clicks by the same visitor within this many seconds count once (a double tap, a page reload).
REPEAT_SECONDS = 600
# User agents of link previews and crawlers: redirected, never counted.
_BOTS = re.compile(
    r"bot\b|bot/|spider|crawl|slurp|preview|facebookexternalhit|whatsapp|telegrambot|skypeuripreview|embedly",
    re.IGNORECASE,
)


def _key(url: str, version_id, sender_id, customer_id, external_userid: str, context: str, context_id) -> str:
    raw = "|".join(str(part or "") for part in (url, version_id, sender_id, customer_id, external_userid, context))
    return hashlib.sha256(f"{raw}|{context_id or ''}".encode()).hexdigest()


def tracked_link(
    url: str,
    *,
    context: str,
    version=None,
    sender=None,
    customer=None,
    external_userid: str = "",
    context_id: int | None = None,
) -> TrackedLink:
    """The link row for this URL in this send (created once: rendering the same send again reuses it)."""
    customer_id = getattr(customer, "pk", customer)
    key = _key(url, getattr(version, "pk", version), getattr(sender, "pk", sender), customer_id, external_userid,
               context, context_id)  # fmt: skip
    existing = TrackedLink.objects.filter(key=key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return TrackedLink.objects.create(
                token=secrets.token_urlsafe(12),
                key=key,
                url=url,
                version_id=getattr(version, "pk", version),
                sender_id=getattr(sender, "pk", sender),
                customer_id=customer_id,
                external_userid=external_userid or "",
                context=context,
                context_id=context_id,
            )
    except IntegrityError:  # rendered twice at once: the other one won
        return TrackedLink.objects.get(key=key)


def public_url(link: TrackedLink) -> str:
    return settings.TRACKED_LINK_BASE_URL + reverse("links:redirect", args=[link.token])


def tracked_url(url: str, **send) -> str:
    return public_url(tracked_link(url, **send))


def rewrite_text(text: str, **send) -> str:
    """Every http(s) URL in the text replaced by its tracked redirect."""
    return URL_IN_TEXT.sub(lambda match: tracked_url(match.group(0), **send), text or "")


# --- the redirect ---------------------------------------------------------------------------------------------


def is_bot(user_agent: str) -> bool:
    return bool(_BOTS.search(user_agent or ""))


def in_wechat(user_agent: str) -> bool:
    """WeChat's and WeCom's in-app browsers both say MicroMessenger."""
    return "micromessenger" in (user_agent or "").lower()


def oauth_configured() -> bool:
    return bool(settings.WECOM_CORP_ID and settings.WECOM_OAUTH_AUTHORIZE_URL)


def oauth_url(redirect_uri: str, state: str) -> str:
    """WeCom's web OAuth for the visitor's identity, silently (snsapi_base: no consent page)."""
    query = {
        "appid": settings.WECOM_CORP_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "snsapi_base",
        "state": state,
    }
    if settings.WECOM_AGENT_ID:
        query["agentid"] = settings.WECOM_AGENT_ID
    return f"{settings.WECOM_OAUTH_AUTHORIZE_URL}?{urlencode(query)}#wechat_redirect"


def oauth_identity(code: str) -> dict:
    """Who the OAuth code belongs to: {userid} (a member), {openid, external_userid?} (anyone else); {} when
    WeCom refuses the code or cannot be reached — the click still counts, only anonymously."""
    remembered = cache.get(f"links:oauth:{hashlib.sha256(code.encode()).hexdigest()[:32]}")
    if remembered is not None:  # a reload of the page WeCom sent back to: the code is single-use
        return remembered
    try:
        answer = get_client().oauth_user_info(code)
    except WeComError as exc:
        logger.info("web OAuth code not accepted by WeCom: %s", exc)
        return {}
    identity = {key: answer[key] for key in ("userid", "openid", "external_userid") if answer.get(key)}
    cache.set(f"links:oauth:{hashlib.sha256(code.encode()).hexdigest()[:32]}", identity, 300)
    return identity


def customer_for(*, link: TrackedLink, identity: dict) -> tuple[Customer | None, str]:
    """(customer, how we know) for a click: the link's own customer, else the OAuth identity's."""
    if link.customer_id:
        return Customer.objects.filter(pk=link.customer_id).first(), LinkClick.IdentifiedBy.LINK
    if link.external_userid:
        customer = Customer.objects.filter(external_userid=link.external_userid).first()
        if customer is not None:
            return customer, LinkClick.IdentifiedBy.LINK
    external_userid = identity.get("external_userid")
    if external_userid:
        customer = Customer.objects.filter(external_userid=external_userid).first()
        if customer is None:
            customer = _customer_by_unionid(external_userid)
        if customer is not None:
            return customer, LinkClick.IdentifiedBy.OAUTH
    return None, LinkClick.IdentifiedBy.NONE


def _customer_by_unionid(external_userid: str) -> Customer | None:
    """A contact we have not stored under this id yet (added moments ago): WeCom's unionid names the person."""
    try:
        contact = get_client().get_external_contact(external_userid)["external_contact"]
    except WeComError as exc:
        logger.info("clicking contact %s not readable from WeCom: %s", external_userid, exc)
        return None
    unionid = contact.get("unionid")
    return Customer.objects.filter(unionid=unionid).first() if unionid else None


def visitor_digest(*, customer_id: int | None, identity: dict, address: str, user_agent: str) -> str:
    who = (
        f"customer:{customer_id}"
        if customer_id
        else f"openid:{identity['openid']}"
        if identity.get("openid")
        else f"agent:{address}|{user_agent}"
    )
    return hmac.new(settings.SECRET_KEY.encode(), who.encode(), hashlib.sha256).hexdigest()


def click_record(
    *, link: TrackedLink, identity: dict, address: str, user_agent: str, in_wechat: bool
) -> LinkClick | None:
    """Count a click (None when it repeats the same visitor's click of minutes ago)."""
    customer, identified_by = customer_for(link=link, identity=identity)
    visitor = visitor_digest(
        customer_id=customer.pk if customer else None, identity=identity, address=address, user_agent=user_agent
    )
    if not cache.add(f"links:seen:{link.pk}:{visitor[:32]}", 1, REPEAT_SECONDS):
        return None
    return LinkClick.objects.create(
        link=link,
        customer=customer,
        identified_by=identified_by,
        external_userid=identity.get("external_userid", "")[:64],
        openid=identity.get("openid", "")[:64],
        in_wechat=in_wechat,
        visitor=visitor,
    )
