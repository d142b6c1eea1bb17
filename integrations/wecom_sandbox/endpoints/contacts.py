"""Customers (external contacts) and their follow relationships (DOC-92265, DOC-93010, DOC-92694)."""

import json

from integrations.wecom_sandbox.endpoints import Call, api, limit, page, str_list, text
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.ids import make_cursor, read_cursor
from integrations.wecom_sandbox.state import one, placeholders, rows

FOLLOWERS_PER_PAGE = 500  # externalcontact/get pages its follow_user list past 500 followers
BATCH_USERIDS_MAX = 100


def contact_dict(row) -> dict:
    contact = {
        "external_userid": row["external_userid"],
        "name": row["name"],
        "type": row["type"],
        "avatar": row["avatar"],
        "gender": row["gender"],
    }
    if row["unionid"]:
        contact["unionid"] = row["unionid"]
    if row["type"] == 2:
        contact["corp_name"] = row["corp_name"]
    return contact


def follow_dict(row) -> dict:
    follow = {
        "userid": row["userid"],
        "remark": row["remark"],
        "description": row["description"],
        "createtime": row["createtime"],
        "remark_mobiles": json.loads(row["remark_mobiles"]),
        "add_way": row["add_way"],
        "oper_userid": row["oper_userid"] or row["userid"],
    }
    if row["remark_corp_name"]:
        follow["remark_corp_name"] = row["remark_corp_name"]
    if row["state"]:
        follow["state"] = row["state"]
    return follow


def tags_of(db, pairs: list[tuple[str, str]], *, detailed: bool) -> dict:
    """{(userid, external_userid): [tag ids] or [{group_name, tag_name, tag_id, type}]} for live tags."""
    found: dict = {pair: [] for pair in pairs}
    externals = sorted({external for _, external in pairs})
    if not externals:
        return found
    for row in rows(
        db,
        "SELECT ft.userid, ft.external_userid, t.id, t.name, g.name AS group_name FROM follow_tag ft"
        " JOIN tag t ON t.id = ft.tag_id AND t.deleted = 0 JOIN tag_group g ON g.group_id = t.group_id"
        f" WHERE ft.external_userid IN ({placeholders(externals)})"
        ' ORDER BY g."order" DESC, g.rowid, t."order" DESC, t.rowid',
        externals,
    ):
        key = (row["userid"], row["external_userid"])
        if key in found:
            detail = {"group_name": row["group_name"], "tag_name": row["name"], "tag_id": row["id"], "type": 1}
            found[key].append(detail if detailed else row["id"])
    return found


def require_member(db, userid: str) -> None:
    if one(db, "SELECT 1 FROM member WHERE userid = ?", (userid,)) is None:
        raise ApiError(40003, f"userid {userid!r} is not a member")


def require_follow(db, userid: str, external_userid: str):
    require_member(db, userid)
    if one(db, "SELECT 1 FROM contact WHERE external_userid = ?", (external_userid,)) is None:
        raise ApiError(40096)
    row = one(db, "SELECT * FROM follow WHERE userid = ? AND external_userid = ?", (userid, external_userid))
    if row is None:
        raise ApiError(84061, f"{external_userid} is not a customer of {userid}")
    return row


@api("externalcontact/get_follow_user_list", "GET")
def get_follow_user_list(call: Call) -> dict:
    return {"follow_user": [row["userid"] for row in rows(call.db, "SELECT userid FROM member WHERE status = 1")]}


@api("externalcontact/list", "GET", data_fetch=True)
def contact_list(call: Call) -> dict:
    userid = text(call, "userid", required=True)
    require_member(call.db, userid)
    found = [
        row["external_userid"]
        for row in rows(call.db, "SELECT external_userid FROM follow WHERE userid = ? ORDER BY createtime", (userid,))
    ]
    if not found:
        raise ApiError(84061)  # WeCom's answer for a member without customers
    return {"external_userid": found}


@api("externalcontact/get", "GET", data_fetch=True)
def contact_get(call: Call) -> dict:
    external_userid = text(call, "external_userid", required=True)
    after = read_cursor("get:" + external_userid, call.arg("cursor"))
    contact = one(call.db, "SELECT * FROM contact WHERE external_userid = ?", (external_userid,))
    if contact is None:
        raise ApiError(40096)
    follows, more = page(
        rows(
            call.db,
            "SELECT * FROM follow WHERE external_userid = ? AND userid > ? ORDER BY userid LIMIT ?",
            (external_userid, after or "", FOLLOWERS_PER_PAGE + 1),
        ),
        FOLLOWERS_PER_PAGE,
    )
    if not follows and after is None:
        raise ApiError(84061)
    tags = tags_of(call.db, [(row["userid"], external_userid) for row in follows], detailed=True)
    result = {
        "external_contact": contact_dict(contact),
        "follow_user": [follow_dict(row) | {"tags": tags[(row["userid"], external_userid)]} for row in follows],
    }
    if more:
        result["next_cursor"] = make_cursor("get:" + external_userid, follows[-1]["userid"])
    return result


@api("externalcontact/batch/get_by_user", "POST", data_fetch=True)
def batch_get_by_user(call: Call) -> dict:
    userids = str_list(call, "userid_list", max_items=BATCH_USERIDS_MAX)
    if not userids and text(call, "userid"):
        userids = [text(call, "userid")]  # the deprecated single-userid form
    if not userids:
        raise ApiError(40063, "userid_list is required")
    size = limit(call, default=50, maximum=100)
    after = read_cursor("batch", call.arg("cursor")) or ["", ""]
    found, more = page(
        rows(
            call.db,
            "SELECT f.*, c.name, c.type, c.avatar, c.gender, c.unionid, c.corp_name FROM follow f"
            " JOIN contact c ON c.external_userid = f.external_userid"
            f" WHERE f.userid IN ({placeholders(userids)}) AND (f.userid, f.external_userid) > (?, ?)"
            " ORDER BY f.userid, f.external_userid LIMIT ?",
            [*userids, after[0], after[1], size + 1],
        ),
        size,
    )
    tags = tags_of(call.db, [(row["userid"], row["external_userid"]) for row in found], detailed=False)
    items = [
        {
            "external_contact": contact_dict(row),
            "follow_info": follow_dict(row) | {"tag_id": tags[(row["userid"], row["external_userid"])]},
        }
        for row in found
    ]
    cursor = make_cursor("batch", [found[-1]["userid"], found[-1]["external_userid"]]) if more else ""
    return {"external_contact_list": items, "next_cursor": cursor}


@api("externalcontact/remark", "POST")
def remark(call: Call) -> dict:
    userid = text(call, "userid", required=True)
    external_userid = text(call, "external_userid", required=True)
    require_follow(call.db, userid, external_userid)
    changes = {}
    for key, column, max_chars in (
        ("remark", "remark", 20),
        ("description", "description", 150),
        ("remark_company", "remark_corp_name", 20),
    ):
        if key in call.body:
            changes[column] = text(call, key, max_chars=max_chars)
    if "remark_mobiles" in call.body:
        mobiles = call.body["remark_mobiles"]
        if mobiles == "":
            mobiles = []
        if not isinstance(mobiles, list) or not all(isinstance(m, str) and len(m) <= 32 for m in mobiles):
            raise ApiError(40058, "remark_mobiles must be a list of phone numbers")
        changes["remark_mobiles"] = json.dumps(mobiles)
    if changes:
        assignments = ", ".join(f"{column} = ?" for column in changes)
        call.db.execute(
            f"UPDATE follow SET {assignments} WHERE userid = ? AND external_userid = ?",
            [*changes.values(), userid, external_userid],
        )
    return {}
