"""The welcome message of a new contact: the channel code's approved content when the add came through one,
else the configured default text (settings.WECOM_WELCOME_TEXT).

Called by `integrations.wecom.callbacks.welcome` from the priority task queued when the add event was stored;
the deadline is counted from that event's arrival. A `WelcomeMessage` row is written before WeCom is called.
Per-customer variables come from our customer row, or — for a contact we have not stored yet (the event is
being processed at the same moment) — from WeCom's view of the contact.
"""

import logging

from django.utils import timezone

from campaigns.channels.models import ChannelCode, WelcomeMessage
from campaigns.content.render import ContentNotUsable, message_for
from campaigns.content.selectors import usable_version
from campaigns.content.services import ContentError
from campaigns.content.variables import FALLBACK_NAME
from campaigns.links.models import TrackedLink
from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComError, WeComPermanentError
from tagging.models import Customer
from workbench.org.models import Operator

logger = logging.getLogger(__name__)

EXPIRED = 41050  # WeCom's errcode for a welcome code past its 20 seconds
USED = 41051
_GENDERS = {1: "M", 2: "F"}


def code_for_state(state: str) -> ChannelCode | None:
    if not state:
        return None
    return ChannelCode.objects.filter(state=state, deleted_at=None).select_related("welcome_item").first()


def has_channel_welcome(state: str) -> bool:
    """One indexed look-up, cheap enough for the callback request itself."""
    return bool(state) and ChannelCode.objects.filter(state=state, deleted_at=None, welcome_item__isnull=False).exists()


def _customer(external_userid: str) -> tuple[Customer | None, str, str]:
    """(customer row or None, name, gender) of the new contact."""
    customer = Customer.objects.filter(external_userid=external_userid).first()
    if customer is not None:
        return customer, customer.name, customer.gender
    try:
        contact = get_client().get_external_contact(external_userid)["external_contact"]
    except WeComError as exc:
        logger.info(
            "welcome message: contact %s not readable from WeCom (%s); neutral salutation", external_userid, exc
        )
        return None, FALLBACK_NAME, ""
    return None, contact.get("name") or "", _GENDERS.get(contact.get("gender"), "")


def welcome_content(event, code: ChannelCode | None) -> tuple[dict | None, object]:
    """(WeCom message body, content version) of the code's welcome, or (None, None) when it has none usable."""
    if code is None or code.welcome_item_id is None:
        return None, None
    version = usable_version(code.welcome_item)
    if version is None:
        logger.warning("channel code %s: its welcome content has no approved, unexpired version", code.pk)
        return None, None
    payload = event.payload
    sender = Operator.objects.select_related("branch").filter(wecom_userid=payload.get("UserID")).first()
    customer, name, gender = _customer(payload.get("ExternalUserID", ""))
    try:
        message = message_for(
            version,
            context=TrackedLink.Context.WELCOME,
            context_id=code.pk,
            sender=sender,
            customer=customer,
            customer_name=name,
            customer_gender=gender,
            external_userid=payload.get("ExternalUserID", ""),
        )
    except ContentNotUsable:
        return None, None
    except ContentError as exc:
        logger.warning("channel code %s: welcome content not sendable: %s", code.pk, exc)
        return None, None
    return message, version


def send_welcome(event, *, deadline, fallback_text: str) -> dict:
    """Send the welcome message of an add event. Raises WeComError (41050 when the deadline passed first)."""
    payload = event.payload
    code = code_for_state(payload.get("State") or "")
    message, version = welcome_content(event, code)
    if message is None:
        if not fallback_text:
            return {}
        message = {"text": {"content": fallback_text}}
    row, created = WelcomeMessage.objects.get_or_create(
        event=event,
        defaults={
            "code": code,
            "version": version,
            "userid": payload.get("UserID", "")[:64],
            "external_userid": payload.get("ExternalUserID", "")[:64],
        },
    )
    if not created and row.status == WelcomeMessage.Status.SENT:
        raise WeComPermanentError(USED, "the welcome message of this event was sent already", path="send_welcome_msg")
    if deadline is not None and timezone.now() > deadline:
        _settle(row, WelcomeMessage.Status.LATE, "the welcome code expired before the message was ready")
        raise WeComPermanentError(EXPIRED, "the welcome code expired before the message was ready")
    text = (message.get("text") or {}).get("content", "")
    try:
        answer = get_client().send_welcome_msg(payload["WelcomeCode"], text, message.get("attachments") or None)
    except WeComError as exc:
        _settle(row, WelcomeMessage.Status.LATE if exc.errcode == EXPIRED else WelcomeMessage.Status.FAILED, str(exc))
        raise
    _settle(row, WelcomeMessage.Status.SENT, "")
    return answer


def _settle(row: WelcomeMessage, status: str, error: str) -> None:
    row.status, row.error = status, error[:255]
    row.sent_at = timezone.now() if status == WelcomeMessage.Status.SENT else None
    row.save(update_fields=["status", "error", "sent_at"])
