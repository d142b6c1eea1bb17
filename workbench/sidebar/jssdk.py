"""The server side of WeCom's JS-SDK for the sidebar: the app's jsapi ticket and the `wx.agentConfig` signature.

`wx.agentConfig` proves to the WeCom client that the page belongs to the self-built app: the server signs the page
URL with the app's jsapi ticket (`GET ticket/get?type=agent_config`, valid 7200 s). WeCom limits how often tickets
are fetched, so the ticket is shared through the cache and refreshed by one process at a time, exactly like the
access token (`integrations/wecom/tokens.py`, which this reuses with the ticket in the token's place).

Signature (WeCom's 「JS-SDK使用权限签名算法」, the same as WeChat's): the four fields jsapi_ticket, noncestr,
timestamp and url, sorted by name, joined as `key=value` with `&`, then SHA-1 in hex. The URL is the page's full
address without the `#` fragment, exactly as the browser shows it.
"""

import hashlib
import secrets
import time

from django.conf import settings

from integrations.wecom.client import get_client
from integrations.wecom.tokens import SharedToken

AGENT_TICKET_TYPE = "agent_config"


def signature(*, ticket: str, noncestr: str, timestamp: int | str, url: str) -> str:
    fields = {"jsapi_ticket": ticket, "noncestr": noncestr, "timestamp": str(timestamp), "url": url.split("#")[0]}
    plain = "&".join(f"{key}={fields[key]}" for key in sorted(fields))
    return hashlib.sha1(plain.encode()).hexdigest()  # noqa: S324 - WeCom's algorithm, not our choice


def _ticket_cache() -> SharedToken:
    # A SharedToken under its own key: same cache-and-lock discipline as the access token, for the app's ticket.
    return SharedToken(settings.WECOM_CORP_ID, f"{settings.WECOM_SECRET}|jsapi:{AGENT_TICKET_TYPE}")


def _fetch_agent_ticket() -> dict:
    answer = get_client().get("ticket/get", {"type": AGENT_TICKET_TYPE})
    return {"access_token": answer["ticket"], "expires_in": answer.get("expires_in", 7200)}


def agent_ticket() -> str:
    """The app's jsapi ticket for wx.agentConfig (cached until shortly before WeCom's expiry)."""
    return _ticket_cache().get(_fetch_agent_ticket)


def forget_agent_ticket() -> None:
    _ticket_cache().forget()


def agent_config(url: str) -> dict:
    """What the page passes to wx.agentConfig for this URL (the page's own address)."""
    noncestr = secrets.token_urlsafe(12)
    timestamp = int(time.time())
    return {
        "corpid": settings.WECOM_CORP_ID,
        "agentid": settings.WECOM_AGENT_ID,
        "timestamp": timestamp,
        "nonceStr": noncestr,
        "signature": signature(ticket=agent_ticket(), noncestr=noncestr, timestamp=timestamp, url=url),
    }
