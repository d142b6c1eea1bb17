"""What each WeCom event does to our data: one function per event, each calling the contact services.

A handler gets the stored `CallbackEvent` and may be run more than once for the same event (a WeCom retry that
slipped through, a task redelivered after a worker died): every service it calls is idempotent. Reads from WeCom
happen before the database transaction, never inside it. What a handler raises decides the event's fate in
`services.process_callback`: a transient WeCom error is retried, a permanent one or a bug fails the event.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from celery import current_app
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from integrations.wecom import contacts
from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComPermanentError
from integrations.wecom.models import CallbackEvent
from tagging.models import FollowRelationship
from tagging.tags.wecom import apply_wecom_follow_tags

logger = logging.getLogger(__name__)

CONTACT_EVENT = "change_external_contact"
TAG_EVENT = "change_external_tag"
CHAT_EVENT = "change_external_chat"
KNOWN_EVENTS = frozenset({CONTACT_EVENT, TAG_EVENT, CHAT_EVENT})
ADDED = ("add_external_contact", "add_half_external_contact")

# A burst of tag events (a group reordered, many tags deleted) refreshes the corp tags once: the first event
# schedules the refresh this many seconds ahead and every event until then is covered by it.
TAG_SYNC_DEBOUNCE_SECONDS = 5
TAG_SYNC_TASK = "integrations.wecom.tasks.sync_corp_tags"
# externalcontact/get for a contact no member of ours follows any more.
NO_RELATIONSHIP = 84061


def event_time(event: CallbackEvent) -> datetime:
    """When WeCom says the change happened (CreateTime), or when we received it if that is unreadable."""
    try:
        return datetime.fromtimestamp(int(event.payload.get("CreateTime")), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return event.received_at or timezone.now()


def refresh_contact(event: CallbackEvent) -> None:
    """add_external_contact, add_half_external_contact, edit_external_contact: WeCom's current view of the
    contact (the event only carries ids) becomes the customer and its follows. The follow's `state` names the
    channel (渠道活码) the customer came through."""
    payload = event.payload
    try:
        found = get_client().get_external_contact(payload["ExternalUserID"])
    except WeComPermanentError as exc:
        if exc.errcode != NO_RELATIONSHIP:
            raise
        # Deleted again before we got here: nothing left to apply; the deletion's own event ends our follow.
        logger.info("callback %s: WeCom no longer has contact %s", event.pk, payload["ExternalUserID"])
        return
    follow_users = found["follow_user"]
    state = payload.get("State")
    if state:  # the event names the channel too; keep it should the follow read back without one
        for follow in follow_users:
            if follow.get("userid") == payload.get("UserID") and not follow.get("state"):
                follow["state"] = state
    customer = contacts.upsert_contact(found["external_contact"], follow_users, source="callback")
    apply_wecom_follow_tags([customer.pk], read_at=event.received_at)  # tags an operator changed in WeCom
    if state and event.change_type in ADDED:
        from campaigns.channels.services import channel_add_record  # the channel app imports this integration

        # Through a channel code (渠道活码): credited to it and tagged with its tags (idempotent per follow).
        channel_add_record(event=event, customer=customer, userid=payload.get("UserID", ""), state=state)
    if event.change_type in ADDED:
        from campaigns.playbooks.triggers import enrol_new_contact  # playbooks import this integration too

        # "New contact" playbooks (optionally per channel code): idempotent per follow, so a retry enrols no one twice.
        enrol_new_contact(customer=customer, userid=payload.get("UserID", ""), at=event_time(event))


def operator_deleted_contact(event: CallbackEvent) -> None:
    """del_external_contact: the member deleted the customer, or a transfer moved the customer away
    (Source=DELETE_BY_TRANSFER) — a hand-over, not a lost customer."""
    payload = event.payload
    by_transfer = payload.get("Source") == "DELETE_BY_TRANSFER"
    deleted_by = FollowRelationship.DeletedBy.TRANSFER if by_transfer else FollowRelationship.DeletedBy.OPERATOR
    with transaction.atomic():
        contacts.end_follow(
            external_userid=payload["ExternalUserID"],
            userid=payload["UserID"],
            deleted_by=deleted_by,
            at=event_time(event),
        )


def customer_deleted_operator(event: CallbackEvent) -> None:
    """del_follow_user: the customer deleted the member — the churn signal supervision watches."""
    payload = event.payload
    with transaction.atomic():
        contacts.end_follow(
            external_userid=payload["ExternalUserID"],
            userid=payload["UserID"],
            deleted_by=FollowRelationship.DeletedBy.CUSTOMER,
            at=event_time(event),
        )


def transfer_failed(event: CallbackEvent) -> None:
    """transfer_fail: the customer refused the new member, or the member has no room (FailReason)."""
    payload = event.payload
    with transaction.atomic():
        contacts.record_transfer_failed(
            external_userid=payload["ExternalUserID"],
            takeover_userid=payload["UserID"],
            reason=payload.get("FailReason") or "",
            at=event_time(event),
        )


def corp_tags_changed(event: CallbackEvent) -> None:
    """change_external_tag (create/update/delete/shuffle of a tag or group): refresh the corp tags from WeCom.

    By name, not by import: the sync task's module imports half of the integration.
    """
    if cache.add("wecom:callbacks:corp-tag-sync", event.pk, TAG_SYNC_DEBOUNCE_SECONDS):
        current_app.send_task(TAG_SYNC_TASK, countdown=TAG_SYNC_DEBOUNCE_SECONDS)
    else:
        logger.debug("corp tag refresh already scheduled; event %s is covered by it", event.pk)


HANDLERS: dict[tuple[str, str], Callable[[CallbackEvent], None]] = {
    (CONTACT_EVENT, "add_external_contact"): refresh_contact,
    (CONTACT_EVENT, "add_half_external_contact"): refresh_contact,
    (CONTACT_EVENT, "edit_external_contact"): refresh_contact,
    (CONTACT_EVENT, "del_external_contact"): operator_deleted_contact,
    (CONTACT_EVENT, "del_follow_user"): customer_deleted_operator,
    (CONTACT_EVENT, "transfer_fail"): transfer_failed,
    **{(TAG_EVENT, change): corp_tags_changed for change in ("create", "update", "delete", "shuffle")},
    # change_external_chat (customer groups) and every other event: stored and acknowledged, nothing to do yet.
}


def handler_for(event: str, change_type: str) -> Callable[[CallbackEvent], None] | None:
    return HANDLERS.get((event, change_type))
