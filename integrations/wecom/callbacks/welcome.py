"""The welcome message (欢迎语) a new contact receives through the welcome code of its add event.

WeCom issues a WelcomeCode with add_external_contact / add_half_external_contact only when the console has no
welcome message of its own and the chat has not started; the code works once and for 20 seconds (then 41050;
used or chat started: 41051). A customer who came through a channel code (渠道活码: the event's State) gets the
code's approved welcome content, with per-customer variables filled in (`campaigns.channels.welcome`); anyone
else — and a channel whose content is not usable — gets `settings.WECOM_WELCOME_TEXT` (empty: none).

The message goes out from its own task, enqueued when the event is stored, ahead of everything else on the
callbacks queue, and expiring before the code does: a worker that picks it up too late drops it instead of
sending a stale code.
"""

from datetime import datetime, timedelta

from django.conf import settings

from integrations.wecom.callbacks.handlers import ADDED, CONTACT_EVENT
from integrations.wecom.models import CallbackEvent

CODE_LIFETIME_SECONDS = 20
# The send must reach WeCom before the code expires: two seconds are left for the call itself.
SEND_WITHIN_SECONDS = 18


def welcome_text() -> str:
    return settings.WECOM_WELCOME_TEXT


def welcome_deadline(event: CallbackEvent) -> datetime | None:
    """When this event's welcome message must be sent by; None when it has none to send.

    Counted from our receipt: the code was issued just before, by WeCom's clock, which ours need not match.
    """
    from campaigns.channels.welcome import has_channel_welcome  # the channel app imports this integration

    if event.event != CONTACT_EVENT or event.change_type not in ADDED:
        return None
    if not event.payload.get("WelcomeCode"):
        return None
    if not welcome_text() and not has_channel_welcome(event.payload.get("State") or ""):
        return None
    return event.received_at + timedelta(seconds=SEND_WITHIN_SECONDS)


def welcome_send(event: CallbackEvent) -> dict:
    """Send the welcome message with the event's code. Raises WeComError (41050/41051 are permanent)."""
    from campaigns.channels.welcome import send_welcome

    return send_welcome(event, deadline=welcome_deadline(event), fallback_text=welcome_text())
