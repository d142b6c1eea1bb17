"""Writes of channel codes: the codes themselves (kept in step with WeCom's 「联系我」 configs), and what
happens when a customer adds an operator through one — credited, tagged (the welcome message is `welcome.py`).

WeCom has no daily cap per member: the cap is ours. After each add the code's members are worked out again —
those under their cap today, else the backup operator — and WeCom's config is updated when they changed; the
periodic push does the same at the turn of the day and retries what WeCom could not take.
"""

import logging
import secrets
from datetime import datetime, time

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.channels.models import ChannelAdd, ChannelCode, ChannelCodeMember
from campaigns.content.models import ContentItem
from campaigns.content.selectors import usable_version
from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComError
from tagging.models import FollowRelationship, TagSource
from tagging.tags.services import tag_add
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.org.models import Operator

logger = logging.getLogger(__name__)

MEMBERS_MAX = 100  # WeCom's per config (41041)
CONTACT_WAY_MULTI = 2  # type: several members (also right for one: members can change without a new QR code)
CONTACT_WAY_QR = 2  # scene: a QR code
INVALID_CONFIG = 40058
PUSH_LOCK_SECONDS = 60
WELCOME_USES = (ContentItem.Use.WELCOME, ContentItem.Use.MASS)


class ChannelError(ValueError):
    """The request cannot be carried out; the message is for the user as it is."""


def new_state() -> str:
    """A unique, short `state` (WeCom allows 30 characters)."""
    return "ch_" + secrets.token_hex(6)


def _validated(*, name: str, members: list[tuple[Operator, int | None]], backup, welcome_item) -> str:
    name = (name or "").strip()
    if not name or len(name) > 30:
        raise ChannelError(_("Give the code a name of at most 30 characters."))
    operators = [operator for operator, _cap in members]
    if not 1 <= len(operators) <= MEMBERS_MAX:
        raise ChannelError(_("Choose 1 to %(max)s operators.") % {"max": MEMBERS_MAX})
    if len({operator.pk for operator in operators}) != len(operators):
        raise ChannelError(_("An operator is listed twice."))
    for operator in [*operators, *([backup] if backup else [])]:
        if not operator.is_active or not operator.wecom_userid:
            raise ChannelError(_("%(name)s is not an active WeCom member.") % {"name": operator.name})
    if backup is not None and backup.pk in {operator.pk for operator in operators}:
        raise ChannelError(_("The backup operator must not be one of the code's operators."))
    if welcome_item is not None:
        if welcome_item.use not in WELCOME_USES:
            raise ChannelError(_("Operator-task content cannot be a welcome message."))
        if usable_version(welcome_item) is None:
            raise ChannelError(_("The welcome message must be approved content that has not expired."))
    return name


def _set_relations(code: ChannelCode, members, tags) -> None:
    code.members.all().delete()
    ChannelCodeMember.objects.bulk_create(
        ChannelCodeMember(code=code, operator=operator, daily_cap=cap) for operator, cap in members
    )
    code.auto_tags.set(tags)


def _describe(code: ChannelCode) -> dict:
    return {
        "name": code.name,
        "state": code.state,
        "operators": list(code.members.values_list("operator__name", "daily_cap")),
        "backup": code.backup_operator.name if code.backup_operator_id else None,
        "tags": list(code.auto_tags.values_list("name", flat=True)),
        "welcome": code.welcome_item_id,
    }


@transaction.atomic
def channel_code_create(
    *, actor, name: str, members, backup=None, tags=(), welcome_item=None, skip_verify: bool = True
) -> ChannelCode:
    """The code's row, waiting for WeCom; `channel_code_push` creates the config (and the QR code)."""
    name = _validated(name=name, members=members, backup=backup, welcome_item=welcome_item)
    code = ChannelCode.objects.create(
        name=name,
        state=new_state(),
        backup_operator=backup,
        welcome_item=welcome_item,
        skip_verify=skip_verify,
        created_by=actor,
    )
    _set_relations(code, members, tags)
    audit_record(actor=actor, action=AuditAction.CHANNEL_CODE_CHANGED, obj=code, detail={"created": _describe(code)})
    return code


@transaction.atomic
def channel_code_update(
    *, code: ChannelCode, actor, name: str, members, backup=None, tags=(), welcome_item=None, skip_verify: bool = True
) -> ChannelCode:
    code = ChannelCode.objects.select_for_update().get(pk=code.pk)
    if code.deleted_at is not None:
        raise ChannelError(_("This code has been deleted."))
    name = _validated(name=name, members=members, backup=backup, welcome_item=welcome_item)
    code.name, code.backup_operator, code.welcome_item, code.skip_verify = name, backup, welcome_item, skip_verify
    code.sync = ChannelCode.Sync.PENDING
    code.save()
    _set_relations(code, members, tags)
    audit_record(actor=actor, action=AuditAction.CHANNEL_CODE_CHANGED, obj=code, detail={"updated": _describe(code)})
    return code


@transaction.atomic
def channel_code_delete(*, code: ChannelCode, actor) -> ChannelCode:
    """Gone from WeCom (the QR code stops working) once pushed; the row stays, so its customers stay credited."""
    code = ChannelCode.objects.select_for_update().get(pk=code.pk)
    if code.deleted_at is None:
        code.deleted_at = timezone.now()
        code.sync = ChannelCode.Sync.PENDING
        code.save(update_fields=["deleted_at", "sync", "updated_at"])
        audit_record(actor=actor, action=AuditAction.CHANNEL_CODE_CHANGED, obj=code, detail={"deleted": code.state})
    return code


# --- WeCom ----------------------------------------------------------------------------------------------------


def _start_of_today():
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


def adds_today(code: ChannelCode) -> dict[int, int]:
    rows = (
        ChannelAdd.objects.filter(code=code, added_at__gte=_start_of_today()).values("operator").annotate(n=Count("pk"))
    )
    return {row["operator"]: row["n"] for row in rows}


def desired_users(code: ChannelCode) -> list[str]:
    """The members WeCom should offer now: those under today's cap; else the backup; else all of them (WeCom
    cannot pause a code, and turning customers away is worse than exceeding a cap)."""
    members = [
        member
        for member in code.members.select_related("operator")
        if member.operator.is_active and member.operator.wecom_userid
    ]
    counts = adds_today(code)
    free = [
        member.operator.wecom_userid
        for member in members
        if member.daily_cap is None or counts.get(member.operator_id, 0) < member.daily_cap
    ]
    if free:
        return free
    backup = code.backup_operator
    if backup is not None and backup.is_active and backup.wecom_userid:
        return [backup.wecom_userid]
    return [member.operator.wecom_userid for member in members]


def channel_code_push(*, code_id: int) -> ChannelCode | None:
    """Bring WeCom's config in step with the row: create, update (members, remark) or delete it.

    A permanent refusal marks the row `failed` with WeCom's message; a transient one leaves it `pending` for the
    periodic push. One push per code at a time (a second caller returns at once).
    """
    lock = f"channels:push:{code_id}"
    if not cache.add(lock, 1, PUSH_LOCK_SECONDS):
        return ChannelCode.objects.filter(pk=code_id).first()
    try:
        return _push(code_id)
    finally:
        cache.delete(lock)


def _push(code_id: int) -> ChannelCode | None:
    code = ChannelCode.objects.select_related("backup_operator").filter(pk=code_id).first()
    if code is None:
        return None
    seen_update = code.updated_at
    client = get_client()
    changes: dict = {}
    try:
        if code.deleted_at is not None:
            if code.config_id:
                try:
                    client.del_contact_way(code.config_id)
                except WeComError as exc:
                    if exc.errcode != INVALID_CONFIG:  # already gone from WeCom
                        raise
            changes["wecom_users"] = []
        else:
            users = desired_users(code)
            body = {"remark": code.name[:30], "skip_verify": code.skip_verify, "state": code.state, "user": users}
            if not code.config_id:
                answer = client.add_contact_way(type=CONTACT_WAY_MULTI, scene=CONTACT_WAY_QR, **body)
                changes |= {"config_id": answer["config_id"], "qr_code": answer.get("qr_code", "")}
                # Kept at once: a failure below must not make the next push create a second config.
                ChannelCode.objects.filter(pk=code.pk).update(**changes)
            else:
                client.update_contact_way(code.config_id, **body)
            changes["wecom_users"] = users
    except WeComError as exc:
        status = ChannelCode.Sync.PENDING if exc.transient else ChannelCode.Sync.FAILED
        logger.warning("channel code %s not pushed to WeCom: %s", code.pk, exc)
        ChannelCode.objects.filter(pk=code.pk).update(sync=status, sync_error=str(exc)[:255], **changes)
        return ChannelCode.objects.get(pk=code.pk)
    settled = {"sync_error": "", "synced_at": timezone.now(), **changes}
    # An edit saved while we talked to WeCom keeps the row pending: the next push sends it.
    ChannelCode.objects.filter(pk=code.pk, updated_at=seen_update).update(sync=ChannelCode.Sync.SYNCED, **settled)
    ChannelCode.objects.filter(pk=code.pk).exclude(updated_at=seen_update).update(**settled)
    return ChannelCode.objects.get(pk=code.pk)


def codes_to_push() -> list[int]:
    """Pending codes, and live codes whose WeCom members are not the ones they should be now (a cap reached,
    a new day, an operator gone)."""
    pending = list(ChannelCode.objects.filter(sync=ChannelCode.Sync.PENDING).values_list("pk", flat=True))
    live = ChannelCode.objects.filter(deleted_at=None, sync=ChannelCode.Sync.SYNCED).prefetch_related("members")
    stale = [code.pk for code in live if sorted(desired_users(code)) != sorted(code.wecom_users)]
    return pending + stale


def push_due() -> int:
    """The periodic push (beat): every code that needs WeCom to change. Returns how many were pushed."""
    pushed = 0
    for code_id in codes_to_push():
        channel_code_push(code_id=code_id)
        pushed += 1
    return pushed


# --- adds -----------------------------------------------------------------------------------------------------


def apply_tags(*, customer_id: int, tags, code_id: int) -> list[int]:
    """The code's tags on the customer through the tag services (set-based, with their history and the WeCom
    push); returns the ids of the tags the customer did not have yet."""
    return [tag.pk for tag in tags if tag_add([customer_id], tag, source=TagSource.EVENT, source_id=code_id)]


def channel_add_record(*, event, customer, userid: str, state: str) -> ChannelAdd | None:
    """An add event whose `state` is one of our codes: credit the follow to the code, tag the customer.

    Idempotent (one ChannelAdd per follow): a re-processed event changes nothing. None when the state is not a
    code of ours or the member is not an operator we know.
    """
    code = ChannelCode.objects.filter(state=state).first()
    if code is None or customer is None:
        return None
    follow = (
        FollowRelationship.objects.filter(customer=customer, operator__wecom_userid=userid, deleted_at=None)
        .select_related("operator")
        .first()
    )
    if follow is None:
        return None
    with transaction.atomic():
        add, created = ChannelAdd.objects.get_or_create(
            follow=follow,
            defaults={
                "code": code,
                "customer": customer,
                "operator": follow.operator,
                "added_at": follow.added_at,
                "event": event,
            },
        )
        if created:
            tags = list(code.auto_tags.filter(is_active=True))
            add.tags_added = apply_tags(customer_id=customer.pk, tags=tags, code_id=code.pk)
            add.save(update_fields=["tags_added"])
            if code.deleted_at is None and code.members.filter(daily_cap__isnull=False).exists():
                transaction.on_commit(lambda: _enqueue_push(code.pk), robust=True)
    return add


def _enqueue_push(code_id: int) -> None:
    from campaigns.channels.tasks import push_code

    push_code.delay(code_id)
