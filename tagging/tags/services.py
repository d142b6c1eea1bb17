"""Writes of the tag system: customers' tags, set-based, and the tag library's groups and tags.

Customers' tags (`tag_add`, `tag_remove`) take one customer, ids, customers or a queryset and work in chunks of
`CHUNK` ids. Per chunk, in one transaction and whatever the chunk's size:

1. `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING customer_id` (or `DELETE … RETURNING customer_id`): the
   customers whose tags really changed;
2. one `INSERT … SELECT` of their `TagChange` rows (the history, and the trigger of playbooks);
3. one `INSERT … ON CONFLICT` of the WeCom outbox: a `TagPush` per live follow of those customers (customers
   without a WeCom contact or a live follow get none); a pending push of the same follow and tag is rewritten.

So adding a tag a customer already has (or removing one they lack) writes nothing at all, and the number of
queries grows with the number of chunks, never with the number of customers.

A rule's removal (`source=rule`) leaves tags pinned by hand; a removal by any other source removes them. A rule
tag added by hand is pinned, so that the next evaluation of its rule does not take it away.

Library writes save the row, then bring WeCom in step (`wecom.py`). When WeCom refuses (a name it already has,
40071; the corp-tag limit, 40126) the row goes back to what it was and `TagError` carries a message for the form;
when WeCom cannot be reached the row stays "waiting for WeCom" and the library sync tries again.
"""

import json
from collections.abc import Iterable, Iterator

from django.db import connection, transaction
from django.db.models import ProtectedError, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.wecom.errors import WeComError
from tagging.models import (
    Customer,
    CustomerTag,
    FollowRelationship,
    Tag,
    TagChange,
    TagGroup,
    TagPush,
    TagSource,
    WeComState,
)
from tagging.tags import wecom
from workbench.audit.models import AuditAction
from workbench.audit.services import audit_record
from workbench.org.models import Operator

CHUNK = 5000
# WeCom's limit for corp tags (errcode 40126); every active tag of ours is a corp tag.
MAX_CORP_TAGS = 3000
NAME_MAX = 30  # WeCom's limit for group and tag names
# Tags customers get by hand; event and imported tags belong to their playbook, channel code or import.
BY_HAND_KINDS = (Tag.Kind.MANUAL, Tag.Kind.RULE)


class TagError(Exception):
    """A change that cannot be made; `message` is written for the person who asked, `field` names the form field."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


# --- customers' tags -------------------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _ids_sql(ids: list[int]) -> tuple[str, list]:
    """A sub-select of these ids: one array parameter on PostgreSQL, one JSON parameter on SQLite (the demo)."""
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::bigint[]) AS id", [ids]
    return "SELECT value AS id FROM json_each(%s)", [json.dumps(ids)]


def _db_time(value):
    return connection.ops.adapt_datetimefield_value(value)


def id_chunks(customers, size: int | None = None) -> Iterator[list[int]]:
    """Sorted customer ids in chunks: from a queryset by keyset (never all at once), or from values in memory."""
    size = size or CHUNK
    if isinstance(customers, QuerySet):
        ids = customers.order_by("pk").values_list("pk", flat=True)
        last = None
        while True:
            chunk = list((ids if last is None else ids.filter(pk__gt=last))[:size])
            if chunk:
                yield chunk
            if len(chunk) < size:
                return
            last = chunk[-1]
    if isinstance(customers, Customer | int):
        customers = [customers]
    ids = sorted({customer.pk if isinstance(customer, Customer) else int(customer) for customer in customers})
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _tag_of(tag) -> Tag:
    return tag if isinstance(tag, Tag) else Tag.objects.get(pk=tag)


def _default_priority(source: str) -> int:
    return TagPush.PRIORITY_BY_HAND if source == TagSource.MANUAL else TagPush.PRIORITY_BULK


def tag_add(
    customers_or_ids,
    tag,
    *,
    source: str,
    actor=None,
    source_id: int | None = None,
    pinned: bool | None = None,
    push_priority: int | None = None,
    skip_follow_ids: Iterable[int] = (),
    progress=None,
) -> int:
    """Give these customers the tag; returns how many did not have it. Set-based, see the module docstring.

    `pinned`: None leaves the pin of customers who already have the tag alone (new rows are not pinned, except
    a rule tag added by hand); True or False sets it on every one of them. `progress(done)` is called per chunk.
    `skip_follow_ids`: follows already in this state in WeCom (tags that came from there): no push for them.
    """
    tag = _tag_of(tag)
    if not tag.is_active:
        raise TagError(_("The tag “%(name)s” has been deleted.") % {"name": tag.name})
    if pinned is None and source == TagSource.MANUAL and tag.kind == Tag.Kind.RULE:
        pinned = True
    priority = _default_priority(source) if push_priority is None else push_priority
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    skip = sorted(set(skip_follow_ids))
    added = done = 0
    for ids in id_chunks(customers_or_ids):
        with transaction.atomic():
            now = timezone.now()
            changed = _insert_customer_tags(tag, ids, source=source, actor_id=actor_id, pinned=bool(pinned), now=now)
            if pinned is not None:
                CustomerTag.objects.filter(tag=tag, customer_id__in=ids).exclude(pinned=pinned).update(pinned=pinned)
            _record(tag, changed, TagChange.Action.ADDED, source=source, actor_id=actor_id, source_id=source_id)
            if changed:
                _enqueue_pushes(tag, changed, TagPush.Action.ADD, priority=priority, now=now, skip=skip)
        added += len(changed)
        done += len(ids)
        if progress is not None:
            progress(done)
    return added


def tag_remove(
    customers_or_ids,
    tag,
    *,
    source: str,
    actor=None,
    source_id: int | None = None,
    keep_pinned: bool | None = None,
    push: bool = True,
    push_priority: int | None = None,
    skip_follow_ids: Iterable[int] = (),
    progress=None,
) -> int:
    """Take the tag from these customers; returns how many had it. A rule (`source=rule`) leaves pinned ones.

    `push=False`: WeCom already lost the tag (a corp tag deleted there or by us), so no `mark_tag` is queued.
    """
    tag = _tag_of(tag)
    keep_pinned = source == TagSource.RULE if keep_pinned is None else keep_pinned
    priority = _default_priority(source) if push_priority is None else push_priority
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    skip = sorted(set(skip_follow_ids))
    removed = done = 0
    for ids in id_chunks(customers_or_ids):
        with transaction.atomic():
            changed = _delete_customer_tags(tag, ids, keep_pinned=keep_pinned)
            _record(tag, changed, TagChange.Action.REMOVED, source=source, actor_id=actor_id, source_id=source_id)
            if changed and push:
                _enqueue_pushes(tag, changed, TagPush.Action.REMOVE, priority=priority, now=timezone.now(), skip=skip)
        removed += len(changed)
        done += len(ids)
        if progress is not None:
            progress(done)
    return removed


def tag_set_pinned(customers_or_ids, tag, *, pinned: bool) -> int:
    """Pin or unpin a tag the customers have (pins are not history: the tag itself did not change)."""
    tag = _tag_of(tag)
    updated = 0
    for ids in id_chunks(customers_or_ids):
        updated += CustomerTag.objects.filter(tag=tag, customer_id__in=ids).exclude(pinned=pinned).update(pinned=pinned)
    return updated


def _insert_customer_tags(tag: Tag, ids: list[int], *, source, actor_id, pinned: bool, now) -> list[int]:
    sub, sub_params = _ids_sql(ids)
    sql = (
        f"INSERT INTO {_quote(CustomerTag._meta.db_table)} (customer_id, tag_id, source, pinned, added_at, added_by_id)"
        f" SELECT c.id, %s, %s, %s, %s, %s FROM {_quote(Customer._meta.db_table)} c WHERE c.id IN ({sub})"
        " ON CONFLICT DO NOTHING RETURNING customer_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tag.pk, source, pinned, _db_time(now), actor_id, *sub_params])
        return sorted(row[0] for row in cursor.fetchall())


def _delete_customer_tags(tag: Tag, ids: list[int], *, keep_pinned: bool) -> list[int]:
    sub, sub_params = _ids_sql(ids)
    sql = (
        f"DELETE FROM {_quote(CustomerTag._meta.db_table)} WHERE tag_id = %s AND customer_id IN ({sub})"
        + (" AND NOT pinned" if keep_pinned else "")
        + " RETURNING customer_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tag.pk, *sub_params])
        return sorted(row[0] for row in cursor.fetchall())


def _record(tag: Tag, customer_ids: list[int], action: str, *, source, actor_id, source_id) -> None:
    """The history rows of these customers, in one INSERT … SELECT (no model instance per row)."""
    if not customer_ids:
        return
    sub, sub_params = _ids_sql(customer_ids)
    sql = (
        f"INSERT INTO {_quote(TagChange._meta.db_table)} (customer_id, tag_id, action, source, actor_id, source_id, at)"
        f" SELECT ids.id, %s, %s, %s, %s, %s, %s FROM ({sub}) AS ids"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [tag.pk, action, source, actor_id, source_id, _db_time(timezone.now()), *sub_params])


def _enqueue_pushes(
    tag: Tag, customer_ids: list[int], action: str, *, priority: int, now, skip: list[int] = (), by_follow: bool = False
) -> None:
    """One pending `TagPush` per live WeCom follow of these customers (a pending one for the pair is rewritten).

    `by_follow`: the ids are follow ids, not customer ids (a correction of one follow in WeCom).
    """
    table = _quote(TagPush._meta.db_table)
    sub, sub_params = _ids_sql(customer_ids)
    skip_sql, skip_params = "", []
    if skip:
        skip_sub, skip_params = _ids_sql(skip)
        skip_sql = f" AND f.id NOT IN ({skip_sub})"
    sql = (
        f"INSERT INTO {table} (follow_id, tag_id, action, status, priority, attempts, due_at, claim_token, error,"
        " created_at, updated_at)"
        " SELECT f.id, %s, %s, %s, %s, 0, %s, '', '', %s, %s"
        f" FROM {_quote(FollowRelationship._meta.db_table)} f"
        f" JOIN {_quote(Customer._meta.db_table)} c ON c.id = f.customer_id"
        f" JOIN {_quote(Operator._meta.db_table)} o ON o.id = f.operator_id"
        f" WHERE f.{'id' if by_follow else 'customer_id'} IN ({sub}) AND f.deleted_at IS NULL"
        " AND c.external_userid IS NOT NULL AND o.wecom_userid IS NOT NULL AND o.status = %s"
        f"{skip_sql}"
        " ON CONFLICT (follow_id, tag_id) WHERE status = 'pending' DO UPDATE SET action = excluded.action,"
        " attempts = 0, due_at = excluded.due_at, updated_at = excluded.updated_at, errcode = NULL, error = '',"
        f" priority = CASE WHEN excluded.priority < {table}.priority THEN excluded.priority ELSE {table}.priority END"
    )
    at = _db_time(now)
    params = [tag.pk, action, TagPush.Status.PENDING, priority, at, at, at, *sub_params, Operator.Status.ACTIVE]
    with connection.cursor() as cursor:
        cursor.execute(sql, params + skip_params)
        if cursor.rowcount:
            transaction.on_commit(wecom.kick_push)


# --- by hand, from the customer page ---------------------------------------------------------------------------


def customer_tag_add_by_hand(*, customer: Customer, tag: Tag, actor) -> bool:
    """A person puts a manual tag (or a rule tag, pinned) on a customer they may see (the view checked)."""
    if tag.kind not in BY_HAND_KINDS:
        raise TagError(_("%(kind)s tags are set by their source, not by hand.") % {"kind": tag.get_kind_display()})
    return tag_add(customer, tag, source=TagSource.MANUAL, actor=actor) > 0


def customer_tag_remove_by_hand(*, customer: Customer, tag: Tag, actor) -> bool:
    """Manual tags only: a rule tag is unpinned instead, and then its rule decides."""
    if tag.kind != Tag.Kind.MANUAL:
        raise TagError(_("Only manual tags are removed by hand; unpin a rule tag to let its rule decide."))
    return tag_remove(customer, tag, source=TagSource.MANUAL, actor=actor) > 0


def customer_tag_pin(*, customer: Customer, tag: Tag, pinned: bool) -> bool:
    if tag.kind != Tag.Kind.RULE:
        raise TagError(_("Only rule tags are pinned."))
    return tag_set_pinned(customer, tag, pinned=pinned) > 0


# --- the library -----------------------------------------------------------------------------------------------


def _clean_name(name: str, what: str) -> str:
    name = (name or "").strip()
    if not name:
        raise TagError(_("A %(what)s needs a name.") % {"what": what}, field="name")
    if len(name) > NAME_MAX:
        raise TagError(
            _("WeCom allows at most %(n)s characters in a %(what)s name.") % {"n": NAME_MAX, "what": what},
            field="name",
        )
    return name


def limit_message(active: int) -> str:
    return _(
        "WeCom allows at most %(max)s corp tags and the library has %(n)s. Delete tags that are no longer used first."
    ) % {"max": f"{MAX_CORP_TAGS:,}", "n": f"{active:,}"}


def _audit(actor, change: str, obj, **detail) -> None:
    audit_record(actor=actor, action=AuditAction.TAG_LIBRARY_CHANGED, obj=obj, detail={"change": change, **detail})


def _wecom_refused(exc: WeComError, *, group: TagGroup, name: str) -> TagError:
    if exc.errcode == wecom.NAME_TAKEN:
        return TagError(
            _("WeCom already has “%(name)s” in “%(group)s”; choose another name.")
            % {"name": name, "group": group.name},
            field="name",
        )
    if exc.errcode == wecom.TOO_MANY_TAGS:
        return TagError(limit_message(Tag.objects.filter(is_active=True).count()))
    return _refusal(exc)


def _refusal(exc: WeComError) -> TagError:
    message = _("WeCom refused the change (errcode %(code)s: %(msg)s).")
    return TagError(message % {"code": exc.errcode, "msg": exc.errmsg})


def tag_group_create(*, name: str, description: str = "", order: int = 0, actor=None) -> TagGroup:
    """A group reaches WeCom with its first tag (WeCom has no empty groups)."""
    name = _clean_name(name, _("group"))
    if TagGroup.objects.filter(name=name).exists():
        raise TagError(_("A tag group named “%(name)s” already exists.") % {"name": name}, field="name")
    group = TagGroup.objects.create(name=name, description=description, order=order, wecom_state=WeComState.PENDING)
    _audit(actor, "group_created", group, name=name)
    return group


def tag_group_update(group: TagGroup, *, name: str, description: str, order: int, actor=None) -> TagGroup:
    name = _clean_name(name, _("group"))
    if TagGroup.objects.filter(name=name).exclude(pk=group.pk).exists():
        raise TagError(_("A tag group named “%(name)s” already exists.") % {"name": name}, field="name")
    before = {"name": group.name, "order": group.order}
    group.name, group.description, group.order = name, description, order
    in_wecom = (group.name, group.order) != (before["name"], before["order"]) and group.wecom_group_id
    if in_wecom:
        group.wecom_state = WeComState.PENDING
    group.save()
    if in_wecom:
        try:
            wecom.push_group(group)
        except WeComError as exc:
            if exc.transient:
                transaction.on_commit(wecom.kick_library_sync)
            else:
                TagGroup.objects.filter(pk=group.pk).update(**before, wecom_state=WeComState.SYNCED)
                raise _group_refused(exc, name) from exc
    _audit(actor, "group_updated", group, before=before, name=name)
    return group


def _group_refused(exc: WeComError, name: str) -> TagError:
    if exc.errcode == wecom.NAME_TAKEN:
        return TagError(_("WeCom already has a tag group named “%(name)s”.") % {"name": name}, field="name")
    return _refusal(exc)


def tag_group_delete(group: TagGroup, *, actor=None) -> None:
    if group.tags.filter(is_active=True).exists():
        raise TagError(_("Delete the group's tags first."))
    if group.tags.exists():
        raise TagError(_("This group keeps the history of its deleted tags and cannot be removed; rename it instead."))
    wecom.delete_group(group)
    _audit(actor, "group_deleted", group, name=group.name)
    group.delete()


def tag_create(
    *, group: TagGroup, name: str, kind: str = Tag.Kind.MANUAL, description: str = "", order: int = 0, actor=None
) -> Tag:
    """Create the tag and its corp tag in WeCom. A deleted tag of the same name in the group comes back."""
    name = _clean_name(name, _("tag"))
    if Tag.objects.filter(group=group, name=name, is_active=True).exists():
        raise TagError(
            _("“%(group)s” already has a tag named “%(name)s”.") % {"group": group.name, "name": name}, field="name"
        )
    active = Tag.objects.filter(is_active=True).count()
    if active >= MAX_CORP_TAGS:
        raise TagError(limit_message(active))
    values = {"kind": kind, "description": description, "order": order, "is_active": True}
    values |= {"wecom_tag_id": None, "wecom_state": WeComState.PENDING, "wecom_error": ""}
    tag = Tag.objects.filter(group=group, name=name).first()
    revived = tag is not None
    if revived:
        for field, value in values.items():
            setattr(tag, field, value)
        tag.save()
    else:
        tag = Tag.objects.create(group=group, name=name, **values)
    try:
        wecom.push_tag(tag)
    except WeComError as exc:
        if exc.transient:
            transaction.on_commit(wecom.kick_library_sync)
        else:
            if revived:
                Tag.objects.filter(pk=tag.pk).update(is_active=False, wecom_state=WeComState.SYNCED)
            else:
                tag.delete()
            raise _wecom_refused(exc, group=group, name=name) from exc
    _audit(actor, "tag_created", tag, group=group.name, name=name, kind=kind)
    return tag


def tag_update(tag: Tag, *, name: str, kind: str, description: str, order: int, actor=None) -> Tag:
    if not tag.is_active:
        raise TagError(_("The tag “%(name)s” has been deleted.") % {"name": tag.name})
    name = _clean_name(name, _("tag"))
    if Tag.objects.filter(group=tag.group_id, name=name).exclude(pk=tag.pk).exists():
        raise TagError(
            _("“%(group)s” already has a tag named “%(name)s”.") % {"group": tag.group.name, "name": name},
            field="name",
        )
    before = {"name": tag.name, "kind": tag.kind, "order": tag.order}
    tag.name, tag.kind, tag.description, tag.order = name, kind, description, order
    in_wecom = (name, order) != (before["name"], before["order"])
    if in_wecom:
        tag.wecom_state = WeComState.PENDING
    tag.save()
    if in_wecom:
        try:
            wecom.push_tag(tag)
        except WeComError as exc:
            if exc.transient:
                transaction.on_commit(wecom.kick_library_sync)
            else:
                Tag.objects.filter(pk=tag.pk).update(
                    name=before["name"], order=before["order"], wecom_state=WeComState.SYNCED
                )
                raise _wecom_refused(exc, group=tag.group, name=name) from exc
    _audit(actor, "tag_updated", tag, before=before, name=name, kind=kind)
    return tag


def tag_delete(tag: Tag, *, actor=None) -> None:
    """Gone from WeCom (which takes it off every follow) and from every customer; its history stays.

    A tag never given to anyone is deleted outright; otherwise it is deactivated and a task takes it from its
    customers in chunks (`tag_clear`), each removal recorded in the history.
    """
    tag.is_active = False
    tag.wecom_state = WeComState.PENDING
    tag.save(update_fields=["is_active", "wecom_state", "updated_at"])
    try:
        wecom.push_tag(tag)
    except WeComError:
        transaction.on_commit(wecom.kick_library_sync)  # the library sync deletes it in WeCom later
    _audit(actor, "tag_deleted", tag, group=tag.group.name, name=tag.name)
    # The row goes only once WeCom has let go of its corp tag (else the library sync still needs it).
    if tag.wecom_tag_id is None and not TagChange.objects.filter(tag=tag).exists():
        try:
            tag.delete()
            return
        except ProtectedError:  # a rule or a playbook still names it: keep the row, inactive
            pass
    from tagging.tags.tasks import clear_tag

    transaction.on_commit(lambda: clear_tag.delay(tag.pk, actor.pk if actor is not None else None))


def tag_clear(tag: Tag, *, source: str = TagSource.MANUAL, actor=None) -> int:
    """Take an inactive tag from every customer who has it (WeCom already dropped it: nothing to push)."""
    holders = Customer.objects.filter(tags__tag=tag)
    return tag_remove(holders, tag, source=source, actor=actor, push=False)
