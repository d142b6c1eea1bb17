"""Directory and contact sync: WeCom's departments, members, corp tags and external contacts into ours.

`run_sync(run)` is the whole job; the management command and the Celery task only start it. A full sync reads
every contact of every member with customer-contact permission through `batch/get_by_user` (100 members a
call, cursor pages) and ends follows WeCom no longer has. An incremental sync refreshes the directory and tags,
then compares each member's `externalcontact/list` with our live follows and fetches only the differences:
the safety net under the callbacks. Nothing is written when WeCom did not change.
"""

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from integrations.wecom import contacts
from integrations.wecom.client import BATCH_USERIDS_MAX, WeComClient, get_client
from integrations.wecom.models import CorpTag, SyncRun
from tagging.models import FollowRelationship
from tagging.tags.wecom import apply_after_sync
from workbench.org.models import Branch, Operator
from workbench.org.services import branch_create, branch_move, operator_create, operator_resign

logger = logging.getLogger(__name__)

# What WeCom holds, reported by every run even when zero; the other counts are changes, reported when not zero.
TOTALS = ("departments", "members", "customers", "follow_relationships", "tags")
# WeCom member status: 1 active, 2 disabled, 4 not yet activated, 5 left the corp.
_ACTIVE_MEMBER_STATUSES = {1, 4}
_LEVEL_BY_DEPTH = [Branch.Level.HEAD_OFFICE, Branch.Level.BRANCH, Branch.Level.SUB_BRANCH]


def _level(depth: int) -> int:
    return _LEVEL_BY_DEPTH[depth] if depth < len(_LEVEL_BY_DEPTH) else Branch.Level.OUTLET


def sync_departments(client: WeComClient, stats: Counter) -> dict[int, Branch]:
    departments = sorted(client.department_list(), key=lambda d: (d.get("parentid", 0), d.get("order", 0), d["id"]))
    by_id = {department["id"]: department for department in departments}
    branches = {b.wecom_department_id: b for b in Branch.objects.filter(wecom_department_id__in=by_id)}

    def depth(department_id: int) -> int:
        seen, parent, level = set(), by_id[department_id].get("parentid"), 0
        while parent in by_id and parent not in seen:
            seen.add(parent)
            parent, level = by_id[parent].get("parentid"), level + 1
        return level

    for department in sorted(departments, key=lambda d: depth(d["id"])):
        parent = branches.get(department.get("parentid"))
        branch = branches.get(department["id"])
        name = department["name"][:64]
        if branch is None:
            branch = branch_create(
                name=name,
                level=_level(depth(department["id"])),
                parent=parent,
                wecom_department_id=department["id"],
                order=department.get("order", 0),
            )
            branches[department["id"]] = branch
            stats["branches_created"] += 1
            continue
        if parent is not None and branch.parent_id != parent.pk:
            branch = branches[department["id"]] = branch_move(branch=branch, new_parent=parent)
            stats["branches_updated"] += 1
        wanted = {"name": name, "order": department.get("order", 0), "is_active": True}
        changed = {field: value for field, value in wanted.items() if getattr(branch, field) != value}
        if changed:
            for field, value in changed.items():
                setattr(branch, field, value)
            branch.save(update_fields=list(changed))
            stats["branches_updated"] += 1
    gone = Branch.objects.filter(wecom_department_id__isnull=False, is_active=True).exclude(
        wecom_department_id__in=by_id
    )
    stats["branches_deactivated"] += gone.update(is_active=False)
    stats["departments"] = len(departments)
    return branches


def sync_members(client: WeComClient, branches: dict[int, Branch], stats: Counter) -> list[str]:
    """Members → operators; a member gone from WeCom (or marked as left) is resigned, never deleted."""
    roots = [department_id for department_id, branch in branches.items() if branch.parent_id is None] or [1]
    members = {}
    for root in roots:
        for member in client.user_list(root, fetch_child=True):
            members[member["userid"]] = member
    operators = {op.wecom_userid: op for op in Operator.objects.filter(wecom_userid__isnull=False)}
    for userid, member in members.items():
        department_ids = member.get("department") or []
        main = member.get("main_department") or (department_ids[0] if department_ids else None)
        branch = branches.get(main)
        active = member.get("status", 1) in _ACTIVE_MEMBER_STATUSES
        operator = operators.get(userid)
        if operator is None:
            if branch is None or not active:
                continue
            operators[userid] = operator_create(
                name=member.get("name", userid)[:64], branch=branch, wecom_userid=userid
            )
            stats["operators_created"] += 1
            continue
        changed = {}
        if member.get("name") and operator.name != member["name"][:64]:
            changed["name"] = member["name"][:64]
        if branch is not None and operator.branch_id != branch.pk:
            changed["branch_id"] = branch.pk
        if changed:
            for field, value in changed.items():
                setattr(operator, field, value)
            operator.save(update_fields=list(changed))
            stats["operators_updated"] += 1
        if not active and operator.status == Operator.Status.ACTIVE:
            operator_resign(operator=operator)
            stats["operators_resigned"] += 1
    for userid, operator in operators.items():
        if userid not in members and operator.status == Operator.Status.ACTIVE:
            operator_resign(operator=operator)
            stats["operators_resigned"] += 1
    stats["members"] = len(members)
    return [userid for userid, member in members.items() if member.get("status", 1) in _ACTIVE_MEMBER_STATUSES]


# A sync that would delete more than this share of the corp tags (and at least MASS_DELETION_MIN of them) is held
# back: it is far likelier that the workbench points at another corp or WeCom answered a partial list than that
# an admin deleted most of the tag library. `manage.py wecom_sync --accept-tag-deletions` applies it on purpose.
MASS_DELETION_SHARE = 0.5
MASS_DELETION_MIN = 10


def sync_corp_tags(client: WeComClient, stats: Counter, *, accept_mass_deletion: bool = False) -> None:
    seen = set()
    existing = {tag.tag_id: tag for tag in CorpTag.objects.all()}
    for group in client.corp_tag_list():
        for tag in group.get("tag", []):
            seen.add(tag["id"])
            values = {
                "name": tag["name"][:30],
                "order": tag.get("order", 0),
                "group_id": group["group_id"],
                "group_name": group["group_name"][:30],
                "group_order": group.get("order", 0),
                "created_at": _timestamp(tag.get("create_time")),
                "deleted_at": None,
            }
            current = existing.get(tag["id"])
            if current is None:
                CorpTag.objects.create(tag_id=tag["id"], **values)
                stats["tags_created"] += 1
                continue
            changed = [field for field, value in values.items() if getattr(current, field) != value]
            if changed:
                for field in changed:
                    setattr(current, field, values[field])
                current.save(update_fields=changed)
                stats["tags_updated"] += 1
    gone = CorpTag.objects.filter(deleted_at__isnull=True).exclude(tag_id__in=seen)
    live, leaving = CorpTag.objects.filter(deleted_at__isnull=True).count(), gone.count()
    if leaving >= MASS_DELETION_MIN and leaving > live * MASS_DELETION_SHARE and not accept_mass_deletion:
        logger.error(
            "WeCom lists %s of our %s corp tags as gone: deletion held back (another corp? a partial answer?)."
            " If the tags really were deleted in WeCom, run `manage.py wecom_sync --accept-tag-deletions`.",
            leaving,
            live,
        )
        stats["tags_deletion_held"] += leaving
    else:
        stats["tags_deleted"] += gone.update(deleted_at=timezone.now())
    stats["tags"] = len(seen)


def _timestamp(timestamp) -> datetime | None:
    return datetime.fromtimestamp(int(timestamp), tz=UTC) if timestamp else None


def sync_all_contacts(client: WeComClient, stats: Counter, progress: Callable[[int, int], None]) -> None:
    """Every contact of every member who may have customers, gathered per contact across members' pages."""
    userids = sorted(client.follow_user_list())
    chunks = [userids[i : i + BATCH_USERIDS_MAX] for i in range(0, len(userids), BATCH_USERIDS_MAX)]
    progress(0, len(userids), SyncRun.Stage.FETCHING)
    gathered: dict[str, tuple[dict, list[dict]]] = {}
    for index, chunk in enumerate(chunks):
        for item in client.iter_contacts_by_user(chunk):
            contact = item["external_contact"]
            entry = gathered.setdefault(contact["external_userid"], (contact, []))
            entry[1].append(item["follow_info"])
        progress(min(len(userids), (index + 1) * BATCH_USERIDS_MAX), len(userids))
    seen_follows: set[int] = set()
    progress(0, len(gathered), SyncRun.Stage.APPLYING)
    for done, (contact, follow_users) in enumerate(gathered.values(), start=1):
        if done % 500 == 0:
            progress(done, len(gathered))
        contacts.upsert_contact(
            contact, follow_users, source="sync", complete=False, stats=stats, seen_follow_ids=seen_follows
        )
    stale = (
        FollowRelationship.objects.filter(deleted_at=None, operator__wecom_userid__in=userids)
        .exclude(pk__in=seen_follows)
        .values_list("pk", flat=True)
    )
    stale_ids = list(stale)
    if stale_ids:
        stats["follows_ended"] += FollowRelationship.objects.filter(pk__in=stale_ids).update(
            deleted_at=timezone.now(), deleted_by=FollowRelationship.DeletedBy.SYNC
        )
    stats["customers"] = len(gathered)
    stats["follow_relationships"] = len(seen_follows)


def reconcile_contacts(client: WeComClient, userids: list[str], stats: Counter, progress) -> None:
    """Per member, fetch only the contacts whose follow differs from WeCom's list (missed callbacks)."""
    progress(0, len(userids), SyncRun.Stage.RECONCILING)
    for index, userid in enumerate(userids):
        theirs = set(client.external_contact_ids(userid))
        ours = set(
            FollowRelationship.objects.filter(operator__wecom_userid=userid, deleted_at=None).values_list(
                "customer__external_userid", flat=True
            )
        )
        for external_userid in theirs - ours:
            fetched = client.get_external_contact(external_userid)
            contacts.upsert_contact(fetched["external_contact"], fetched["follow_user"], source="sync", stats=stats)
        for external_userid in ours - theirs:
            if contacts.end_follow(
                external_userid=external_userid,
                userid=userid,
                deleted_by=FollowRelationship.DeletedBy.SYNC,
                at=timezone.now(),
            ):
                stats["follows_ended"] += 1
        stats["follow_relationships"] += len(theirs)
        progress(index + 1, len(userids))


def run_sync(run: SyncRun) -> SyncRun:
    """Run one sync to the end, keeping its row up to date for the progress bar."""
    client = get_client()
    stats: Counter = Counter()

    def progress(done: int, total: int, stage: str | None = None) -> None:
        run.done, run.total = done, total
        fields = ["done", "total"]
        if stage:
            run.stage = stage
            fields.append("stage")
        run.save(update_fields=fields)

    run.status, run.started_at = SyncRun.Status.RUNNING, timezone.now()
    run.save(update_fields=["status", "started_at"])
    try:
        progress(0, 0, SyncRun.Stage.DIRECTORY)
        with transaction.atomic():
            branches = sync_departments(client, stats)
            active_userids = sync_members(client, branches, stats)
        progress(0, 0, SyncRun.Stage.TAGS)
        sync_corp_tags(client, stats)
        if run.kind == SyncRun.Kind.FULL:
            sync_all_contacts(client, stats, progress)
        else:
            followers = set(client.follow_user_list()) & set(active_userids)
            reconcile_contacts(client, sorted(followers), stats, progress)
        stats.update(apply_after_sync(read_at=run.started_at))  # tags changed in WeCom → the tag system
    except Exception as exc:
        run.status, run.error = SyncRun.Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        logger.exception("WeCom sync #%s failed", run.pk)
    else:
        run.status = SyncRun.Status.SUCCEEDED
    run.counts = {name: value for name, value in stats.items() if value or name in TOTALS}
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "counts", "finished_at"])
    return run
