"""The tag system's WeCom side: corp tags both ways, the `mark_tag` outbox, tags changed in the WeCom client.

Everything goes through the one client, `integrations.wecom.client.get_client()`.

Our tags are corp tags
    `push_tag` / `push_group` bring WeCom in step with a saved tag or group (`add_corp_tag`, `edit_corp_tag`,
    `del_corp_tag`) and keep `CorpTag` (the mirror of WeCom's corp tags) in step. `sync_library` does the same
    in the background for every row still waiting for WeCom. WeCom's order is "larger first", ours "smaller
    first": we send `ORDER_TOP - order`.

Tags on customers are marked on their follows
    Tag changes write `TagPush` rows (services.py). `push_pending` claims them in batches (`FOR UPDATE SKIP
    LOCKED`, then a conditional UPDATE to `sending` with a lease and a claim token), calls `mark_tag` once per
    follow with every tag claimed for it, and settles the rows under its token. A rate limit or an unreachable
    WeCom gives the rows back with a due time; a refusal fails them with the errcode. A worker that dies leaves
    `sending` rows whose lease runs out; only those are sent again (mark_tag is idempotent in effect).

Tags changed in WeCom come back
    `apply_wecom_follow_tags` compares each follow's `wecom_tag_ids` (written by the sync and the callbacks)
    with the last state we knew (`WeComFollowTags`): manual tags added or removed by an operator in the WeCom
    client are added to or removed from the customer (source `wecom`, and marked on the customer's other
    follows); rule, event and imported tags belong to their source, so WeCom is corrected instead. Pairs with
    a push of ours in flight are left for the next time. `apply_corp_tags` turns corp tags created, renamed or
    deleted in WeCom into our tags (kind manual, group by name). Our own API calls cause no callbacks
    (DOC-96361), so nothing loops.
"""

import logging
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic

from celery import current_app
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.wecom.client import get_client
from integrations.wecom.errors import WeComError, WeComPermanentError, WeComRateLimited
from integrations.wecom.models import CorpTag
from tagging.models import (
    Customer,
    CustomerTag,
    FollowRelationship,
    Tag,
    TagGroup,
    TagPush,
    TagSource,
    WeComFollowTags,
    WeComState,
)
from workbench.org.models import Operator

logger = logging.getLogger(__name__)

INVALID_ID = 40068  # invalid tag or tag-group id
NAME_TAKEN = 40071  # a tag (or group) of that name exists
TOO_MANY_TAGS = 40126  # more than 3000 corp tags
NO_RELATIONSHIP = 84061  # the member and the customer are not (any more) a follow in WeCom
BAD_PARAMETER = 40058  # e.g. a name WeCom will not take
REFUSALS = frozenset({NAME_TAKEN, TOO_MANY_TAGS, BAD_PARAMETER})

ORDER_TOP = 10000
PUSH_TASK = "integrations.wecom.tag_push"
LIBRARY_TASK = "integrations.wecom.tag_sync_library"
KICK_SECONDS = 1  # a burst of changes starts one task; the countdown covers the debounce window

CLAIM_BATCH = 100
SIBLINGS_PER_ROW = 10  # at most this many more rows per claimed row, from the same follows
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
WAIT_FOR_TAG = timedelta(minutes=1)  # a push whose tag is not in WeCom yet looks again after this
WAIT_FOR_REFUSED_TAG = timedelta(hours=1)
APPLY_CHUNK = 2000
KEEP_SETTLED = timedelta(days=7)  # done and skipped pushes are kept this long for the outbox page


def wecom_order(order: int) -> int:
    return max(0, ORDER_TOP - order)


def _kick(task: str, key: str) -> None:
    if cache.add(f"tags:kick:{key}", 1, KICK_SECONDS):
        current_app.send_task(task, countdown=KICK_SECONDS)


def kick_push() -> None:
    _kick(PUSH_TASK, "push")


def kick_library_sync() -> None:
    _kick(LIBRARY_TASK, "library")


# --- the library: our groups and tags as corp tags -------------------------------------------------------------


def _note(obj, exc: WeComError) -> None:
    """Record a failed call on the row. Only WeCom refusing this very name or tag marks it "refused" (an admin
    retries it); anything else (unreachable, a wrong secret, no permission) keeps it waiting for the next sync."""
    state = WeComState.ERROR if exc.errcode in REFUSALS else WeComState.PENDING
    type(obj).objects.filter(pk=obj.pk).update(wecom_state=state, wecom_error=str(exc)[:255])
    obj.wecom_state, obj.wecom_error = state, str(exc)[:255]


def _settle(obj, **values) -> None:
    values |= {"wecom_state": WeComState.SYNCED, "wecom_error": ""}
    type(obj).objects.filter(pk=obj.pk).update(**values)
    for field, value in values.items():
        setattr(obj, field, value)


def _timestamp(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _mirror_corp_tag(group: TagGroup, tag: Tag, created: dict) -> None:
    CorpTag.objects.update_or_create(
        tag_id=created["id"],
        defaults={
            "name": tag.name,
            "order": wecom_order(tag.order),
            "group_id": group.wecom_group_id,
            "group_name": group.name,
            "group_order": wecom_order(group.order),
            "created_at": _timestamp(created.get("create_time")) or timezone.now(),
            "deleted_at": None,
        },
    )


def push_tag(tag: Tag) -> None:
    """Make WeCom's corp tag match this saved tag: create, rename or delete it. Raises WeComError."""
    client = get_client()
    try:
        if not tag.is_active:
            if tag.wecom_tag_id:
                try:
                    client.del_corp_tags(tag_ids=[tag.wecom_tag_id])
                except WeComPermanentError as exc:
                    if exc.errcode != INVALID_ID:  # already gone in WeCom
                        raise
                CorpTag.objects.filter(tag_id=tag.wecom_tag_id, deleted_at=None).update(deleted_at=timezone.now())
            _settle(tag, wecom_tag_id=None)
            return
        if tag.wecom_tag_id:
            try:
                client.edit_corp_tag(tag.wecom_tag_id, name=tag.name, order=wecom_order(tag.order))
            except WeComPermanentError as exc:
                if exc.errcode != INVALID_ID:
                    raise
                logger.info("corp tag %s of tag %s is gone in WeCom: creating it again", tag.wecom_tag_id, tag.pk)
                CorpTag.objects.filter(tag_id=tag.wecom_tag_id, deleted_at=None).update(deleted_at=timezone.now())
                _settle(tag, wecom_tag_id=None)
            else:
                CorpTag.objects.filter(tag_id=tag.wecom_tag_id).update(name=tag.name, order=wecom_order(tag.order))
                _settle(tag)
                return
        _create_tags(client, tag.group, [tag])
    except WeComError as exc:
        _note(tag, exc)
        raise


def _create_tags(client, group: TagGroup, tags: list[Tag]) -> None:
    """`add_corp_tag` for these tags of one group (the group is created with them when WeCom lacks it)."""
    payload = [{"name": tag.name, "order": wecom_order(tag.order)} for tag in tags]
    try:
        answer = _add(client, group, payload)
    except WeComPermanentError as exc:
        if exc.errcode != INVALID_ID or not group.wecom_group_id:
            raise
        # WeCom deletes a group with its last tag: create it again by name.
        _settle(group, wecom_group_id=None)
        answer = _add(client, group, payload)
    if group.wecom_group_id != answer.get("group_id"):
        TagGroup.objects.filter(wecom_group_id=answer["group_id"]).exclude(pk=group.pk).update(wecom_group_id=None)
    _settle(group, wecom_group_id=answer["group_id"])
    created = {item["name"]: item for item in answer.get("tag", [])}
    for tag in tags:
        item = created.get(tag.name)
        if item is None:  # WeCom answered without it: leave it waiting for the library sync
            continue
        Tag.objects.filter(wecom_tag_id=item["id"]).exclude(pk=tag.pk).update(wecom_tag_id=None)
        _settle(tag, wecom_tag_id=item["id"])
        _mirror_corp_tag(group, tag, item)


def _add(client, group: TagGroup, payload: list[dict]) -> dict:
    where = {"group_id": group.wecom_group_id} if group.wecom_group_id else {"group_name": group.name}
    return client.add_corp_tags(**where, tags=payload, order=wecom_order(group.order))


def push_group(group: TagGroup) -> None:
    """Rename (and reorder) the group in WeCom. A group WeCom no longer has waits for its next tag."""
    if not group.wecom_group_id:
        return
    try:
        get_client().edit_corp_tag(group.wecom_group_id, name=group.name, order=wecom_order(group.order))
    except WeComPermanentError as exc:
        if exc.errcode != INVALID_ID:
            _note(group, exc)
            raise
        _settle(group, wecom_group_id=None)
        group.wecom_state = WeComState.PENDING
        TagGroup.objects.filter(pk=group.pk).update(wecom_state=WeComState.PENDING)
        return
    except WeComError as exc:
        _note(group, exc)
        raise
    CorpTag.objects.filter(group_id=group.wecom_group_id).update(
        group_name=group.name, group_order=wecom_order(group.order)
    )
    _settle(group)


def delete_group(group: TagGroup) -> None:
    """Best effort: WeCom deletes a group with its last tag by itself, so an empty group is usually gone."""
    if not group.wecom_group_id:
        return
    try:
        get_client().del_corp_tags(group_ids=[group.wecom_group_id])
    except WeComError as exc:
        logger.info("deleting WeCom tag group %s: %s", group.wecom_group_id, exc)


def sync_library() -> Counter:
    """Bring WeCom in step with every group and tag still waiting for it; stops at the first unreachable call.

    Deleted tags are deleted, new tags created (one `add_corp_tag` per group), renamed ones renamed. A tag WeCom
    refused (state "error") waits for an admin's retry. A name WeCom already has in the group (a tag created
    there, or our own create whose answer was lost) is adopted rather than refused.
    """
    from tagging.tags.services import MAX_CORP_TAGS, limit_message

    client = get_client()
    stats = Counter()
    for tag in Tag.objects.filter(is_active=False, wecom_state=WeComState.PENDING).select_related("group"):
        push_tag(tag)
        stats["deleted"] += 1
    for group in TagGroup.objects.filter(wecom_state=WeComState.PENDING, wecom_group_id__isnull=False):
        push_group(group)
        stats["groups_renamed"] += 1
    for tag in Tag.objects.filter(is_active=True, wecom_state=WeComState.PENDING, wecom_tag_id__isnull=False):
        push_tag(tag)
        stats["renamed"] += 1
    waiting = list(
        Tag.objects.filter(is_active=True, wecom_state=WeComState.PENDING, wecom_tag_id=None)
        .select_related("group")
        .order_by("group_id", "order", "pk")
    )
    by_group: dict[int, list[Tag]] = defaultdict(list)
    for tag in waiting:
        by_group[tag.group_id].append(tag)
    for tags in by_group.values():
        group = tags[0].group
        in_wecom = Tag.objects.filter(is_active=True, wecom_tag_id__isnull=False).count()
        if in_wecom + len(tags) > MAX_CORP_TAGS:
            Tag.objects.filter(pk__in=[t.pk for t in tags]).update(
                wecom_state=WeComState.ERROR, wecom_error=limit_message(in_wecom)[:255]
            )
            stats["over_limit"] += len(tags)
            continue
        try:
            _create_tags(client, group, tags)
        except WeComPermanentError as exc:
            if exc.errcode != NAME_TAKEN:
                for tag in tags:
                    _note(tag, exc)
                stats["refused"] += len(tags)
                continue
            _adopt_or_create_one_by_one(client, group, tags, stats)
            continue
        stats["created"] += len(tags)
    return stats


def _adopt_or_create_one_by_one(client, group: TagGroup, tags: list[Tag], stats: Counter) -> None:
    theirs = {}
    for wecom_group in client.corp_tag_list():
        if wecom_group["group_id"] == group.wecom_group_id or wecom_group["group_name"] == group.name:
            _settle(group, wecom_group_id=wecom_group["group_id"])
            theirs = {item["name"]: item for item in wecom_group.get("tag", [])}
    for tag in tags:
        if tag.name in theirs:
            Tag.objects.filter(wecom_tag_id=theirs[tag.name]["id"]).exclude(pk=tag.pk).update(wecom_tag_id=None)
            _settle(tag, wecom_tag_id=theirs[tag.name]["id"])
            _mirror_corp_tag(group, tag, theirs[tag.name])
            stats["adopted"] += 1
            continue
        try:
            _create_tags(client, group, [tag])
            stats["created"] += 1
        except WeComPermanentError as exc:
            _note(tag, exc)
            stats["refused"] += 1


def apply_corp_tags() -> Counter:
    """Corp tags created, renamed or deleted in WeCom (as the `CorpTag` mirror now holds them) → our tags.

    Called after `integrations.wecom.sync.sync_corp_tags`. A new corp tag becomes a manual tag in the group of
    the same name (created when missing); a renamed one renames ours; a deleted one deactivates ours and a task
    takes it from its customers (WeCom already took it off every follow).
    """
    from tagging.tags.tasks import clear_tag

    stats = Counter()
    ours = {tag.wecom_tag_id: tag for tag in Tag.objects.filter(wecom_tag_id__isnull=False).select_related("group")}
    groups = {group.wecom_group_id: group for group in TagGroup.objects.filter(wecom_group_id__isnull=False)}
    by_name = {group.name: group for group in TagGroup.objects.all()}
    live_groups, adopted = set(), set()
    for corp in CorpTag.objects.filter(deleted_at=None).order_by("group_id", "-order", "tag_id"):
        live_groups.add(corp.group_id)
        group = groups.get(corp.group_id) or by_name.get(corp.group_name)
        if group is None:
            group = TagGroup.objects.create(
                name=corp.group_name, wecom_group_id=corp.group_id, wecom_state=WeComState.SYNCED
            )
            stats["library_groups_created"] += 1
        elif group.wecom_group_id != corp.group_id:
            TagGroup.objects.filter(wecom_group_id=corp.group_id).exclude(pk=group.pk).update(wecom_group_id=None)
            _settle(group, wecom_group_id=corp.group_id)
        elif (
            group.name != corp.group_name
            and group.wecom_state == WeComState.SYNCED  # else our own rename is on its way to WeCom
            and not TagGroup.objects.filter(name=corp.group_name).exists()
        ):
            _settle(group, name=corp.group_name)
            stats["library_groups_renamed"] += 1
        groups[corp.group_id] = by_name[group.name] = group
        tag = ours.get(corp.tag_id)
        if tag is not None:
            clash = Tag.objects.filter(group=tag.group_id, name=corp.name).exclude(pk=tag.pk).exists()
            in_step = tag.is_active and tag.wecom_state == WeComState.SYNCED  # else our change is on its way
            if in_step and tag.name != corp.name and not clash:
                Tag.objects.filter(pk=tag.pk).update(name=corp.name, updated_at=timezone.now())
                stats["library_renamed"] += 1
            continue
        same_name = Tag.objects.filter(group=group, name=corp.name).first()
        if same_name is None:
            Tag.objects.create(
                group=group, name=corp.name, kind=Tag.Kind.MANUAL, wecom_tag_id=corp.tag_id,
                wecom_state=WeComState.SYNCED, description=_("Created in WeCom"),
            )  # fmt: skip
            stats["library_created"] += 1
        elif same_name.wecom_tag_id != corp.tag_id and (same_name.is_active or same_name.wecom_tag_id is None):
            # Ours under a stale id, or deleted here earlier: it is this corp tag (again), history and all.
            Tag.objects.filter(wecom_tag_id=corp.tag_id).exclude(pk=same_name.pk).update(wecom_tag_id=None)
            Tag.objects.filter(pk=same_name.pk).update(
                wecom_tag_id=corp.tag_id, is_active=True, wecom_state=WeComState.SYNCED, wecom_error=""
            )
            adopted.add(same_name.pk)
            stats["library_adopted"] += 1
    gone = set(CorpTag.objects.filter(deleted_at__isnull=False).values_list("tag_id", flat=True))
    for wecom_tag_id, tag in ours.items():
        if wecom_tag_id in gone and tag.is_active and tag.pk not in adopted:
            Tag.objects.filter(pk=tag.pk).update(
                is_active=False, wecom_tag_id=None, wecom_state=WeComState.SYNCED, wecom_error=""
            )
            transaction.on_commit(lambda pk=tag.pk: clear_tag.delay(pk, None, TagSource.WECOM))
            stats["library_deactivated"] += 1
    stats["library_groups_gone"] += (
        TagGroup.objects.filter(wecom_group_id__isnull=False).exclude(wecom_group_id__in=live_groups)
        .update(wecom_group_id=None, wecom_state=WeComState.PENDING)
    )  # fmt: skip
    return stats


# --- the outbox: mark_tag per follow ---------------------------------------------------------------------------


@dataclass
class PushRun:
    calls: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    retry_after: float | None = None  # seconds until WeCom should be tried again (rate limit, outage)
    more: bool = False  # claimable rows were left when the time budget ran out


def _backoff(attempts: int) -> float:
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))


def _claimable(now) -> Q:
    return Q(status=TagPush.Status.PENDING, due_at__lte=now) | Q(status=TagPush.Status.SENDING, lease_until__lt=now)


def claim(batch: int = CLAIM_BATCH) -> tuple[str, list[TagPush]]:
    """Claim up to `batch` due rows for this worker: (claim token, rows now `sending` under it)."""
    now = timezone.now()
    token = uuid.uuid4().hex
    pair = {"follow": OuterRef("follow"), "tag": OuterRef("tag")}
    pending_twin = TagPush.objects.filter(**pair, status=TagPush.Status.PENDING)
    in_flight = TagPush.objects.filter(**pair, status=TagPush.Status.SENDING, lease_until__gte=now)
    with transaction.atomic():
        # A dead worker's row whose pair has changed again since: the newer row says what WeCom must have.
        TagPush.objects.filter(status=TagPush.Status.SENDING, lease_until__lt=now).filter(Exists(pending_twin)).update(
            status=TagPush.Status.SKIPPED, error="superseded", done_at=now, updated_at=now, lease_until=None
        )
        expired = list(
            TagPush.objects.select_for_update(skip_locked=True)
            .filter(status=TagPush.Status.SENDING, lease_until__lt=now)
            .values_list("pk", flat=True)[:batch]
        )
        claimable = (
            TagPush.objects.select_for_update(skip_locked=True)
            .filter(status=TagPush.Status.PENDING, due_at__lte=now)
            .exclude(Exists(in_flight))  # the same pair still being sent: its result must land first
        )
        oldest_first = claimable.order_by("priority", "due_at", "pk")
        due = list(oldest_first.values_list("pk", "follow_id")[: batch - len(expired)])
        # The same follows' other due rows come along: one mark_tag then carries all of a follow's changes.
        siblings = list(
            claimable.filter(follow_id__in={follow_id for _, follow_id in due})
            .exclude(pk__in=[pk for pk, _ in due])
            .values_list("pk", flat=True)[: batch * SIBLINGS_PER_ROW]
        )
        # Conditional: a row another worker claimed in the meantime no longer matches (SQLite has no row locks).
        TagPush.objects.filter(pk__in=expired + [pk for pk, _ in due] + siblings).filter(_claimable(now)).update(
            status=TagPush.Status.SENDING, claim_token=token, lease_until=now + LEASE, updated_at=now
        )
    rows = list(TagPush.objects.filter(claim_token=token, status=TagPush.Status.SENDING).order_by("pk"))
    return token, rows


def push_pending(*, time_budget: float = 50.0, batch: int = CLAIM_BATCH) -> PushRun:
    """Send claimed pushes until none is due, WeCom asks us to wait, or `time_budget` seconds have passed."""
    run = PushRun()
    started = monotonic()
    client = get_client()
    while True:
        if monotonic() - started > time_budget:
            run.more = TagPush.objects.filter(_claimable(timezone.now())).exists()
            return run
        token, rows = claim(batch)
        if not rows:
            return run
        if _send_claimed(client, token, rows, run):
            return run


class _Claimed:
    """Settling a worker's claimed rows, always under its claim token (a lost lease changes nothing)."""

    def __init__(self, token: str):
        self.token = token

    def _mine(self, rows):
        return TagPush.objects.filter(pk__in=[row.pk for row in rows], claim_token=self.token, status="sending")

    def settle(self, rows, status: str, *, errcode: int | None = None, error: str = "") -> int:
        if not rows:
            return 0
        now = timezone.now()
        return self._mine(rows).update(
            status=status, errcode=errcode, error=error[:255], done_at=now, updated_at=now, lease_until=None
        )

    def release(self, rows, *, delay: float, attempt: bool = False, error: str = "", errcode=None) -> None:
        """Back to pending, due after `delay` seconds; a newer pending row of the same pair supersedes it."""
        if not rows:
            return
        now = timezone.now()
        twin = TagPush.objects.filter(follow=OuterRef("follow"), tag=OuterRef("tag"), status=TagPush.Status.PENDING)
        for _try in range(3):
            try:
                with transaction.atomic():
                    self._mine(rows).filter(Exists(twin)).update(
                        status=TagPush.Status.SKIPPED, error="superseded", done_at=now, updated_at=now
                    )
                    self._mine(rows).update(
                        status=TagPush.Status.PENDING,
                        due_at=now + timedelta(seconds=delay),
                        attempts=F("attempts") + (1 if attempt else 0),
                        lease_until=None,
                        claim_token="",
                        errcode=errcode,
                        error=error[:255],
                        updated_at=now,
                    )
                return
            except IntegrityError:  # a new pending row of the pair arrived between the two statements
                continue
        raise RuntimeError("could not release claimed tag pushes")


def _send_claimed(client, token: str, rows: list[TagPush], run: PushRun) -> bool:
    """One `mark_tag` per follow. Returns True when the worker should stop (rate limit, WeCom unavailable)."""
    claimed = _Claimed(token)
    by_follow: dict[int, list[TagPush]] = defaultdict(list)
    for row in rows:
        by_follow[row.follow_id].append(row)
    follows = FollowRelationship.objects.select_related("customer", "operator").in_bulk(list(by_follow))
    tags = Tag.objects.in_bulk({row.tag_id for row in rows})
    remaining = list(by_follow)
    for follow_id in list(by_follow):
        remaining.remove(follow_id)
        latest: dict[int, TagPush] = {}
        for row in sorted(by_follow[follow_id], key=lambda r: r.pk):
            if row.tag_id in latest:
                run.skipped += claimed.settle([latest[row.tag_id]], TagPush.Status.SKIPPED, error="superseded")
            latest[row.tag_id] = row
        follow = follows.get(follow_id)
        if not _is_live(follow):
            run.skipped += claimed.settle(list(latest.values()), TagPush.Status.SKIPPED, error="no live WeCom follow")
            continue
        add, remove, sending, waiting, gone = [], [], [], [], []
        for tag_id, row in latest.items():
            tag = tags.get(tag_id)
            if tag is None or not tag.is_active:
                gone.append(row)
            elif not tag.wecom_tag_id:
                waiting.append(row)
            else:
                (add if row.action == TagPush.Action.ADD else remove).append(tag.wecom_tag_id)
                sending.append(row)
        run.skipped += claimed.settle(gone, TagPush.Status.SKIPPED, error="tag deleted")
        for row in waiting:  # a tag WeCom refused waits for an admin's retry, so look again far less often
            refused = tags[row.tag_id].wecom_state == WeComState.ERROR
            delay = WAIT_FOR_REFUSED_TAG if refused else WAIT_FOR_TAG
            claimed.release([row], delay=delay.total_seconds(), error="waiting for the tag to reach WeCom")
        if not sending:
            continue
        try:
            client.mark_tag(follow.operator.wecom_userid, follow.customer.external_userid, add=add, remove=remove)
        except WeComRateLimited as exc:
            claimed.release(sending + _rows(by_follow, remaining), delay=exc.retry_after)
            run.retry_after = exc.retry_after
            return True
        except WeComError as exc:
            if exc.transient:
                _retry_later(claimed, sending, exc, run)
                claimed.release(_rows(by_follow, remaining), delay=BACKOFF_BASE_SECONDS)
                run.retry_after = BACKOFF_BASE_SECONDS
                return True
            _refused(claimed, sending, exc, run, tag_ids=[row.tag_id for row in sending])
            continue
        run.calls += 1
        run.done += claimed.settle(sending, TagPush.Status.DONE)
        remember_marked(follow, add=add, remove=remove)
    return False


def _rows(by_follow, follow_ids) -> list[TagPush]:
    return [row for follow_id in follow_ids for row in by_follow[follow_id]]


def _is_live(follow: FollowRelationship | None) -> bool:
    return (
        follow is not None
        and follow.deleted_at is None
        and bool(follow.customer.external_userid)
        and bool(follow.operator.wecom_userid)
        and follow.operator.status == Operator.Status.ACTIVE
    )


def _retry_later(claimed: _Claimed, rows: list[TagPush], exc: WeComError, run: PushRun) -> None:
    exhausted = [row for row in rows if row.attempts + 1 >= MAX_ATTEMPTS]
    run.failed += claimed.settle(exhausted, TagPush.Status.FAILED, errcode=exc.errcode, error=str(exc))
    for row in rows:
        if row not in exhausted:
            claimed.release([row], delay=_backoff(row.attempts + 1), attempt=True, error=str(exc), errcode=exc.errcode)


def _refused(claimed: _Claimed, rows: list[TagPush], exc: WeComError, run: PushRun, *, tag_ids: list[int]) -> None:
    if exc.errcode == NO_RELATIONSHIP:  # the customer or the operator ended it; the sync ends our follow
        run.skipped += claimed.settle(rows, TagPush.Status.SKIPPED, errcode=exc.errcode, error=str(exc))
        return
    run.failed += claimed.settle(rows, TagPush.Status.FAILED, errcode=exc.errcode, error=str(exc))
    if exc.errcode == INVALID_ID:  # one of the tags is gone in WeCom: let the library sync look at them
        Tag.objects.filter(pk__in=tag_ids, is_active=True).update(wecom_state=WeComState.PENDING)
        transaction.on_commit(kick_library_sync)


def remember_marked(follow: FollowRelationship, *, add: list[str], remove: list[str]) -> None:
    """After a successful mark_tag: the follow's mirror of WeCom and our last-known state both change with it."""
    current = sorted(follow.wecom_tag_ids or [])
    wanted = sorted((set(current) | set(add)) - set(remove))
    if wanted != current:
        FollowRelationship.objects.filter(pk=follow.pk).update(wecom_tag_ids=wanted)
        follow.wecom_tag_ids = wanted
    known, _created = WeComFollowTags.objects.get_or_create(follow_id=follow.pk)
    after = sorted((set(known.tag_ids or []) | set(add)) - set(remove))
    if after != sorted(known.tag_ids or []):
        known.tag_ids = after
        known.save(update_fields=["tag_ids", "updated_at"])


def purge_settled(*, older_than: timedelta = KEEP_SETTLED, limit: int = 10_000) -> int:
    """Forget pushes done or skipped long ago (failed ones stay until retried), a bounded batch at a time."""
    cutoff = timezone.now() - older_than
    old = TagPush.objects.filter(
        status__in=[TagPush.Status.DONE, TagPush.Status.SKIPPED], updated_at__lt=cutoff
    ).values_list("pk", flat=True)[:limit]
    return TagPush.objects.filter(pk__in=list(old)).delete()[0]


@transaction.atomic
def retry_failed() -> int:
    """An admin's retry: failed pushes go back to the queue, tags WeCom refused wait for the library sync."""
    now = timezone.now()
    failed = TagPush.objects.filter(status=TagPush.Status.FAILED)
    newer = TagPush.objects.filter(follow=OuterRef("follow"), tag=OuterRef("tag"), pk__gt=OuterRef("pk")).exclude(
        status=TagPush.Status.SKIPPED
    )
    # A later change of the same pair already says what WeCom must have.
    failed.filter(Exists(newer)).update(status=TagPush.Status.SKIPPED, error="superseded", updated_at=now)
    retried = failed.update(
        status=TagPush.Status.PENDING, attempts=0, due_at=now, errcode=None, error="", updated_at=now, done_at=None
    )
    refused = Tag.objects.filter(wecom_state=WeComState.ERROR)
    TagPush.objects.filter(status=TagPush.Status.PENDING, tag__in=refused).update(due_at=now)
    refused.update(wecom_state=WeComState.PENDING, wecom_error="")
    TagGroup.objects.filter(wecom_state=WeComState.ERROR).update(wecom_state=WeComState.PENDING, wecom_error="")
    transaction.on_commit(kick_push)
    transaction.on_commit(kick_library_sync)
    return retried


# --- tags changed in the WeCom client --------------------------------------------------------------------------


def apply_after_sync(*, read_at: datetime) -> Counter:
    """After a sync: corp tags created, renamed or deleted in WeCom first, then every follow whose tags changed."""
    return apply_corp_tags() + apply_wecom_follow_tags(read_at=read_at)


def customers_with_changed_follows():
    """Customers with a live follow whose WeCom tags differ from the last state we knew (None known: any tag)."""
    known = WeComFollowTags.objects.filter(follow=OuterRef("pk")).values("tag_ids")[:1]
    follows = (
        FollowRelationship.objects.filter(deleted_at=None)
        .annotate(known=Subquery(known))
        .filter(
            (Q(known__isnull=True) & ~Q(wecom_tag_ids=[])) | (Q(known__isnull=False) & ~Q(wecom_tag_ids=F("known")))
        )
    )
    return Customer.objects.filter(pk__in=follows.values("customer_id"))


def apply_wecom_follow_tags(customer_ids=None, *, read_at: datetime | None = None) -> Counter:
    """Tags operators changed in the WeCom client → these customers' tags (None: every customer whose follows
    changed since we last looked). `read_at`: when the follows' WeCom data was read; a pair (follow, tag) with a
    push of ours pending, or done since then, is left for the next time (WeCom's answer may predate our push).
    """
    from tagging.tags.services import id_chunks

    read_at = read_at or timezone.now()
    stats = Counter()
    mapped = {
        wecom_tag_id: (pk, kind)
        for pk, kind, wecom_tag_id in Tag.objects.filter(is_active=True, wecom_tag_id__isnull=False).values_list(
            "pk", "kind", "wecom_tag_id"
        )
    }
    customers = customers_with_changed_follows() if customer_ids is None else list(customer_ids)
    for ids in id_chunks(customers, size=APPLY_CHUNK):
        with transaction.atomic():
            _apply_chunk(ids, mapped, read_at, stats)
    return stats


def _apply_chunk(ids: list[int], mapped: dict, read_at: datetime, stats: Counter) -> None:
    from tagging.tags.services import _enqueue_pushes, tag_add, tag_remove

    follows = list(
        FollowRelationship.objects.filter(customer_id__in=ids, deleted_at=None).values_list(
            "pk", "customer_id", "wecom_tag_ids"
        )
    )
    follow_ids = [follow_id for follow_id, _, _ in follows]
    known = dict(WeComFollowTags.objects.filter(follow_id__in=follow_ids).values_list("follow_id", "tag_ids"))
    busy = set(
        TagPush.objects.filter(follow_id__in=follow_ids)
        .filter(Q(status__in=[TagPush.Status.PENDING, TagPush.Status.SENDING]) | Q(done_at__gte=read_at))
        .values_list("follow_id", "tag_id")
    )
    our_ids = [pk for pk, _kind in mapped.values()]
    have = set(CustomerTag.objects.filter(customer_id__in=ids, tag_id__in=our_ids).values_list("customer_id", "tag_id"))
    added, removed = defaultdict(set), defaultdict(set)  # our tag id → customer ids (manual tags)
    has_in_wecom = defaultdict(set)  # our tag id → follow ids that have it in WeCom now
    corrections = defaultdict(list)  # (our tag id, action) → follow ids WeCom must be set back on
    new_known = {}
    for follow_id, customer_id, wecom_tag_ids in follows:
        now_ids = {wecom_id for wecom_id in wecom_tag_ids or [] if wecom_id in mapped}
        before = {wecom_id for wecom_id in known.get(follow_id) or [] if wecom_id in mapped}
        keep = set()
        for wecom_id in now_ids | before:
            tag_id, kind = mapped[wecom_id]
            if wecom_id in now_ids:
                has_in_wecom[tag_id].add(follow_id)
            if (follow_id, tag_id) in busy:  # judged next time, against the state our push leaves
                if wecom_id in before:
                    keep.add(wecom_id)
                continue
            if wecom_id in now_ids:
                keep.add(wecom_id)
            if (wecom_id in now_ids) == (wecom_id in before):
                continue
            in_wecom = wecom_id in now_ids
            if kind == Tag.Kind.MANUAL:
                (added if in_wecom else removed)[tag_id].add(customer_id)
            elif in_wecom != ((customer_id, tag_id) in have):  # not the operator's to change: set WeCom back
                action = TagPush.Action.REMOVE if in_wecom else TagPush.Action.ADD
                corrections[(tag_id, action)].append(follow_id)
        if follow_id not in known or sorted(keep) != sorted(known.get(follow_id) or []):
            new_known[follow_id] = sorted(keep)
    live = set(follow_ids)
    for tag_id, customers in added.items():
        fresh = {customer_id for customer_id in customers if (customer_id, tag_id) not in have}
        if fresh:
            stats["wecom_tags_added"] += tag_add(
                fresh, tag_id, source=TagSource.WECOM, skip_follow_ids=has_in_wecom[tag_id], push_priority=1
            )
    for tag_id, customers in removed.items():
        gone = {c for c in customers if (c, tag_id) in have and c not in added.get(tag_id, ())}
        if gone:
            stats["wecom_tags_removed"] += tag_remove(
                gone, tag_id, source=TagSource.WECOM, skip_follow_ids=live - has_in_wecom[tag_id], push_priority=1
            )
    for (tag_id, action), follow_ids_to_fix in corrections.items():
        tag = Tag.objects.get(pk=tag_id)
        _enqueue_pushes(tag, sorted(follow_ids_to_fix), action, priority=1, now=timezone.now(), by_follow=True)
        stats["wecom_tags_corrected"] += len(follow_ids_to_fix)
    if new_known:
        WeComFollowTags.objects.bulk_create(
            [WeComFollowTags(follow_id=follow_id, tag_ids=tag_ids) for follow_id, tag_ids in new_known.items()],
            update_conflicts=True,
            unique_fields=["follow"],
            update_fields=["tag_ids", "updated_at"],
        )
