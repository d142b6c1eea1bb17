"""Filling the corp: exactly from JSON (`POST /sandbox/api/seed`, for tests), or from the workbench database.

The workbench import reads a snapshot (branches → departments, operators with a WeCom userid → members,
customers with an external_userid → contacts, live follow relationships → follows) and writes nothing back.
"""

import json
from datetime import datetime

from integrations.wecom_sandbox import ids
from integrations.wecom_sandbox.errors import ControlError
from integrations.wecom_sandbox.state import CORP_TABLES, Store

DERIVED_DEPARTMENT_BASE = 100_000  # a branch without a WeCom department id gets base + its pk
_GENDER = {"M": 1, "F": 2}


def _need(item: dict, key: str, kind: type, what: str):
    value = item.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) or value == "":
        shown = json.dumps(item, ensure_ascii=False)[:200]
        raise ControlError(f"each of {what} needs {key} ({kind.__name__}): {shown}")
    return value


def seed_json(store: Store, payload: dict, now: int) -> dict:
    """Replace the corp by exactly this one. Returns the counts and the tag groups (with generated ids)."""
    if not isinstance(payload, dict):
        raise ControlError("seed takes a JSON object")
    unknown = set(payload) - {"departments", "members", "contacts", "follows", "tags", "contact_ways"}
    if unknown:
        raise ControlError(f"seed does not take {sorted(unknown)}")
    departments = [
        (
            _need(d, "id", int, "departments"),
            _need(d, "name", str, "departments"),
            int(d.get("parentid", 0)),
            int(d.get("order", 0)),
        )
        for d in payload.get("departments", [])
    ]
    members = []
    for m in payload.get("members", []):
        department = m.get("department", [1])
        members.append(
            (
                _need(m, "userid", str, "members"),
                m.get("name") or m["userid"],
                json.dumps(department),
                int(m.get("main_department", department[0] if department else 0)),
                m.get("position", ""),
                m.get("mobile", ""),
                str(m.get("gender", "0")),
                m.get("email", ""),
                int(m.get("status", 1)),
                int(m.get("dimission_time", now if int(m.get("status", 1)) == 5 else 0)),
            )
        )
    contacts = [
        (
            _need(c, "external_userid", str, "contacts"),
            c.get("name") or c["external_userid"],
            int(c.get("type", 1)),
            int(c.get("gender", 0)),
            c.get("unionid", ""),
            c.get("avatar", ""),
            c.get("corp_name", ""),
        )
        for c in payload.get("contacts", [])
    ]
    follows, follow_tags = [], []
    for f in payload.get("follows", []):
        pair = (_need(f, "userid", str, "follows"), _need(f, "external_userid", str, "follows"))
        follows.append(
            (
                *pair,
                f.get("remark", ""),
                f.get("description", ""),
                f.get("remark_corp_name", ""),
                json.dumps(f.get("remark_mobiles", [])),
                int(f.get("createtime", now)),
                int(f.get("add_way", 0)),
                f.get("state", ""),
                f.get("oper_userid", pair[0]),
            )
        )
        follow_tags += [(*pair, tag_id) for tag_id in f.get("tags", [])]
    groups, tags = [], []
    for group in payload.get("tags", []):
        group_id = group.get("group_id") or ids.tag_id()
        group["group_id"] = group_id
        groups.append(
            (
                group_id,
                _need(group, "group_name", str, "tags"),
                int(group.get("create_time", now)),
                int(group.get("order", 0)),
            )
        )
        for tag in group.get("tag", []):
            tag["id"] = tag.get("id") or ids.tag_id()
            tags.append(
                (
                    tag["id"],
                    group_id,
                    _need(tag, "name", str, "tags[].tag"),
                    int(tag.get("create_time", now)),
                    int(tag.get("order", 0)),
                )
            )
    ways = [(w.get("config_id") or ids.config_id(), now, w) for w in payload.get("contact_ways", [])]
    with store.tx() as db:
        store.clear(CORP_TABLES)
        try:
            db.executemany('INSERT INTO department (id, name, parentid, "order") VALUES (?, ?, ?, ?)', departments)
            db.executemany("INSERT INTO member VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", members)
            db.executemany("INSERT INTO contact VALUES (?, ?, ?, ?, ?, ?, ?)", contacts)
            db.executemany("INSERT INTO follow VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", follows)
            db.executemany('INSERT INTO tag_group (group_id, name, create_time, "order") VALUES (?, ?, ?, ?)', groups)
            db.executemany('INSERT INTO tag (id, group_id, name, create_time, "order") VALUES (?, ?, ?, ?, ?)', tags)
            db.executemany("INSERT INTO follow_tag VALUES (?, ?, ?)", follow_tags)
            db.executemany(
                "INSERT INTO contact_way VALUES (?, ?, ?)",
                [(cid, at, json.dumps(way | {"config_id": cid}, ensure_ascii=False)) for cid, at, way in ways],
            )
        except Exception as exc:  # a duplicate id or a malformed row: the whole seed is rolled back
            raise ControlError(f"seed rejected: {exc}") from exc
        db.execute("INSERT OR REPLACE INTO meta VALUES ('seeded_from', ?)", (json.dumps("json"),))
    return {
        "departments": len(departments), "members": len(members), "contacts": len(contacts),
        "follows": len(follows), "tags": len(tags), "tag_groups": payload.get("tags", []),
    }  # fmt: skip


def _batched(iterable, size: int):
    batch = []
    for item in iterable:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _timestamp(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0


def seed_workbench(store: Store, now: int) -> dict:
    """Replace the corp by a snapshot of the workbench database (Django ORM, read only)."""
    from tagging.models import Customer, FollowRelationship
    from workbench.org.models import Branch, Operator

    branches = list(Branch.objects.values_list("pk", "name", "parent_id", "wecom_department_id", "order"))
    taken = {wecom_id for _, _, _, wecom_id, _ in branches if wecom_id}
    department_of = {}
    for pk, _, _, wecom_id, _ in branches:
        derived = DERIVED_DEPARTMENT_BASE + pk
        while not wecom_id and derived in taken:
            derived += 1_000_000
        department_of[pk] = wecom_id or derived
        taken.add(department_of[pk])
    departments = [
        (department_of[pk], name, department_of.get(parent, 0), order) for pk, name, parent, _, order in branches
    ]
    members = []
    for userid, name, branch_id, status, resigned_at, title in (
        Operator.objects.exclude(wecom_userid__isnull=True)
        .exclude(wecom_userid="")
        .values_list("wecom_userid", "name", "branch_id", "status", "resigned_at", "title")
        .iterator(chunk_size=2000)
    ):
        department = department_of.get(branch_id, 1)
        resigned = status == Operator.Status.RESIGNED
        members.append(
            (
                userid,
                name,
                json.dumps([department]),
                department,
                title or "",
                "",
                "0",
                "",
                5 if resigned else 1,
                _timestamp(resigned_at) or (now if resigned else 0),
            )
        )
    with store.tx() as db:
        store.clear(CORP_TABLES)
        db.executemany('INSERT INTO department (id, name, parentid, "order") VALUES (?, ?, ?, ?)', departments)
        db.executemany("INSERT INTO member VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", members)
        contacts = (
            Customer.objects.exclude(external_userid__isnull=True)
            .exclude(external_userid="")
            .values_list("external_userid", "name", "gender", "unionid")
            .iterator(chunk_size=5000)
        )
        contact_count = 0
        for batch in _batched(contacts, 5000):
            db.executemany(
                "INSERT INTO contact (external_userid, name, type, gender, unionid) VALUES (?, ?, 1, ?, ?)",
                [(ext, name, _GENDER.get(gender, 0), unionid or "") for ext, name, gender, unionid in batch],
            )
            contact_count += len(batch)
        follows = (
            FollowRelationship.objects.filter(deleted_at__isnull=True)
            .exclude(operator__wecom_userid__isnull=True)
            .exclude(operator__wecom_userid="")
            .exclude(customer__external_userid__isnull=True)
            .exclude(customer__external_userid="")
            .values_list(
                "operator__wecom_userid",
                "customer__external_userid",
                "remark",
                "description",
                "add_way",
                "state",
                "added_at",
            )
            .iterator(chunk_size=5000)
        )
        follow_count = 0
        for batch in _batched(follows, 5000):
            db.executemany(
                "INSERT OR IGNORE INTO follow (userid, external_userid, remark, description, createtime, add_way,"
                " state, oper_userid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(u, e, r or "", d or "", _timestamp(at), w, s or "", u) for u, e, r, d, w, s, at in batch],
            )
            follow_count += len(batch)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('seeded_from', ?)", (json.dumps("workbench"),))
    return {"departments": len(departments), "members": len(members), "contacts": contact_count,
            "follows": follow_count}  # fmt: skip


def workbench_has_branches() -> bool:
    from pathlib import Path

    from django.db import DatabaseError, connection

    from workbench.org.models import Branch

    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite" and not Path(name).exists():
        return False  # asking would create an empty database file
    try:
        return Branch.objects.exists()
    except DatabaseError:
        return False
