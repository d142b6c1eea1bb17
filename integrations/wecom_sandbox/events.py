"""Things that happen in the WeCom client, applied to the sandbox's state, with the callback each one posts.

Used by the simulator and by `POST /sandbox/api/events`. API-initiated changes post nothing (DOC-96361);
these are the customer's and the member's own actions.
"""

from typing import TYPE_CHECKING

from integrations.wecom_sandbox import ids, names
from integrations.wecom_sandbox.endpoints.contact_way import issue_welcome_code
from integrations.wecom_sandbox.endpoints.tags import delete_tags
from integrations.wecom_sandbox.errors import ControlError
from integrations.wecom_sandbox.state import one

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

CONTACT_CHANGES = (
    "add_external_contact", "add_half_external_contact", "edit_external_contact", "del_external_contact",
    "del_follow_user", "transfer_fail",
)  # fmt: skip
TAG_CHANGES = ("create", "update", "delete", "shuffle")
ADD_WAY_QR = 1
ADD_WAY_SEARCH = 2


def _member(db, userid) -> str:
    if not userid or one(db, "SELECT 1 FROM member WHERE userid = ? AND status = 1", (userid,)) is None:
        raise ControlError(f"userid {userid!r} is not an active member")
    return userid


def _follow(db, userid, external_userid):
    row = one(db, "SELECT * FROM follow WHERE userid = ? AND external_userid = ?", (userid, external_userid))
    if row is None:
        raise ControlError(f"{external_userid!r} is not a customer of {userid!r}")
    return row


def _add(app: "SandboxApp", db, spec: dict, now: int) -> dict:
    userid = _member(db, spec.get("userid"))
    external_userid = spec.get("external_userid") or ids.external_userid()
    contact = one(db, "SELECT * FROM contact WHERE external_userid = ?", (external_userid,))
    name = spec.get("name") or (contact["name"] if contact else names.person_name(app.rng))
    if contact is None:
        db.execute(
            "INSERT INTO contact (external_userid, name, type, gender, unionid) VALUES (?, ?, 1, ?, ?)",
            (
                external_userid,
                name,
                int(spec.get("gender", app.rng.choice((1, 2)))),
                spec.get("unionid") or ids.unionid(),
            ),
        )
    state = str(spec.get("state") or "")[:30]
    add_way = int(spec.get("add_way", ADD_WAY_QR if state else ADD_WAY_SEARCH))
    # Whoever started the add: the customer for a scanned code, the member for a phone-number search.
    oper_userid = spec.get("oper_userid") or (external_userid if add_way == ADD_WAY_QR else userid)
    db.execute(
        "INSERT OR REPLACE INTO follow (userid, external_userid, remark, description, createtime, add_way, state,"
        " oper_userid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            userid,
            external_userid,
            spec.get("remark", ""),
            spec.get("description", ""),
            now,
            add_way,
            state,
            oper_userid,
        ),
    )
    fields = {"UserID": userid, "ExternalUserID": external_userid}
    if state:
        fields["State"] = state
    if spec.get("welcome_code", True):
        fields["WelcomeCode"] = issue_welcome_code(db, userid, external_userid, now)
    return fields


def _edit(db, spec: dict) -> dict:
    userid, external_userid = spec.get("userid"), spec.get("external_userid")
    _follow(db, userid, external_userid)
    for key in ("remark", "description"):
        if key in spec:
            db.execute(
                f"UPDATE follow SET {key} = ? WHERE userid = ? AND external_userid = ?",
                (str(spec[key]), userid, external_userid),
            )
    for tag_id in spec.get("add_tag", []):
        if one(db, "SELECT 1 FROM tag WHERE id = ? AND deleted = 0", (tag_id,)) is None:
            raise ControlError(f"no tag {tag_id!r}")
        db.execute("INSERT OR IGNORE INTO follow_tag VALUES (?, ?, ?)", (userid, external_userid, tag_id))
    for tag_id in spec.get("remove_tag", []):
        db.execute(
            "DELETE FROM follow_tag WHERE userid = ? AND external_userid = ? AND tag_id = ?",
            (userid, external_userid, tag_id),
        )
    return {"UserID": userid, "ExternalUserID": external_userid}


def _delete(db, spec: dict, change_type: str) -> dict:
    userid, external_userid = spec.get("userid"), spec.get("external_userid")
    _follow(db, userid, external_userid)
    db.execute("DELETE FROM follow WHERE userid = ? AND external_userid = ?", (userid, external_userid))
    db.execute("DELETE FROM follow_tag WHERE userid = ? AND external_userid = ?", (userid, external_userid))
    fields = {"UserID": userid, "ExternalUserID": external_userid}
    if change_type == "del_external_contact" and spec.get("source"):
        fields["Source"] = spec["source"]
    return fields


def _tag_change(app: "SandboxApp", db, spec: dict, now: int) -> dict:
    change_type = spec.get("change_type") or "create"
    if change_type not in TAG_CHANGES:
        raise ControlError(f"change_type for change_external_tag is one of {', '.join(TAG_CHANGES)}")
    tag_type = spec.get("tag_type") or "tag"
    tag_id = spec.get("tag_id") or spec.get("id") or ""
    if change_type == "create" and not tag_id:
        group_id = spec.get("group_id")
        if group_id is None and not spec.get("group_name"):  # a named new group is created below
            group = one(db, "SELECT group_id FROM tag_group WHERE deleted = 0 ORDER BY create_time DESC LIMIT 1")
            group_id = group["group_id"] if group else None
        if group_id is None:
            group_id = ids.tag_id()
            db.execute(
                "INSERT INTO tag_group (group_id, name, create_time) VALUES (?, ?, ?)",
                (group_id, spec.get("group_name") or "客户经理标签", now),
            )
        tag_id = ids.tag_id()
        db.execute(
            "INSERT INTO tag (id, group_id, name, create_time) VALUES (?, ?, ?, ?)",
            (tag_id, group_id, str(spec.get("tag_name") or f"新标签{app.rng.randint(100, 999)}")[:30], now),
        )
    elif change_type == "update" and spec.get("tag_name"):
        table, key = ("tag", "id") if tag_type == "tag" else ("tag_group", "group_id")
        db.execute(f"UPDATE {table} SET name = ? WHERE {key} = ?", (str(spec["tag_name"])[:30], tag_id))
    elif change_type == "delete":
        delete_tags(db, [tag_id] if tag_type == "tag" else [], [tag_id] if tag_type == "tag_group" else [])
    return {"Id": tag_id, "TagType": tag_type, "ChangeType": change_type}


def apply_event(app: "SandboxApp", db, spec: dict, now: int) -> dict:
    """Change the state as the event says; the callback's XML fields (after the common header)."""
    event = spec.get("event") or "change_external_contact"
    if event == "change_external_tag":
        return {"Event": event} | _tag_change(app, db, spec, now)
    if event != "change_external_contact":
        raise ControlError("event is change_external_contact or change_external_tag")
    change_type = spec.get("change_type")
    if change_type not in CONTACT_CHANGES:
        raise ControlError(f"change_type is one of {', '.join(CONTACT_CHANGES)}")
    head = {"Event": event, "ChangeType": change_type}
    if change_type in ("add_external_contact", "add_half_external_contact"):
        return head | _add(app, db, spec, now)
    if change_type == "edit_external_contact":
        return head | _edit(db, spec)
    if change_type == "transfer_fail":
        fields = {
            "FailReason": spec.get("fail_reason") or "customer_refused",
            "UserID": spec.get("userid", ""),
            "ExternalUserID": spec.get("external_userid", ""),
        }
        return head | fields
    return head | _delete(db, spec, change_type)
