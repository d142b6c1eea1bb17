"""Corp tags (企业标签) and marking them on a follow relationship (DOC-92117, DOC-92118).

At most `max_corp_tags` (3000 at WeCom) live tags: 40126 beyond. Names are unique within a group (and group
names among groups): 40071. A group whose last tag is deleted is deleted with it.
"""

from integrations.wecom_sandbox import ids
from integrations.wecom_sandbox.endpoints import Call, api, integer, str_list, text
from integrations.wecom_sandbox.endpoints.contacts import require_follow
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.state import one, placeholders, rows

NAME_MAX = 30


def _group_dict(db, group, tag_filter: list[str] | None = None) -> dict:
    tags = rows(
        db,
        'SELECT * FROM tag WHERE group_id = ? AND deleted = 0 ORDER BY "order" DESC, rowid',
        (group["group_id"],),
    )
    if tag_filter is not None:
        tags = [tag for tag in tags if tag["id"] in tag_filter]
    return {
        "group_id": group["group_id"],
        "group_name": group["name"],
        "create_time": group["create_time"],
        "order": group["order"],
        "tag": [
            {"id": tag["id"], "name": tag["name"], "create_time": tag["create_time"], "order": tag["order"]}
            for tag in tags
        ],
    }


def live_tag_count(db) -> int:
    return db.execute("SELECT COUNT(*) FROM tag WHERE deleted = 0").fetchone()[0]


def _name(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(40058, f"{what} name is required")
    if len(value) > NAME_MAX:
        raise ApiError(40058, f"{what} name exceeds {NAME_MAX} characters")
    return value


@api("externalcontact/get_corp_tag_list", "POST")
def get_corp_tag_list(call: Call) -> dict:
    tag_ids = str_list(call, "tag_id")
    group_ids = str_list(call, "group_id")
    groups = rows(call.db, 'SELECT * FROM tag_group WHERE deleted = 0 ORDER BY "order" DESC, rowid')
    if group_ids:  # with both filters WeCom ignores tag_id
        return {"tag_group": [_group_dict(call.db, g) for g in groups if g["group_id"] in group_ids]}
    if tag_ids:
        result = [_group_dict(call.db, g, tag_ids) for g in groups]
        return {"tag_group": [g for g in result if g["tag"]]}
    return {"tag_group": [_group_dict(call.db, g) for g in groups]}


@api("externalcontact/add_corp_tag", "POST")
def add_corp_tag(call: Call) -> dict:
    db = call.db
    tags = call.arg("tag") or []
    if not isinstance(tags, list) or not all(isinstance(tag, dict) for tag in tags):
        raise ApiError(40058, "tag must be a list of {name, order}")
    if not tags:
        raise ApiError(40063, "tag is required")
    group_id = text(call, "group_id")
    if group_id:
        group = one(db, "SELECT * FROM tag_group WHERE group_id = ? AND deleted = 0", (group_id,))
        if group is None:
            raise ApiError(40068, f"no tag group {group_id}")
    else:
        group_name = _name(call.arg("group_name"), "group")
        group = one(db, "SELECT * FROM tag_group WHERE name = ? AND deleted = 0", (group_name,))
    names = [_name(tag.get("name"), "tag") for tag in tags]
    existing = set()
    if group is not None:
        existing = {
            row["name"]
            for row in rows(db, "SELECT name FROM tag WHERE group_id = ? AND deleted = 0", (group["group_id"],))
        }
    if len(set(names)) != len(names) or existing & set(names):
        raise ApiError(40071)
    if live_tag_count(db) + len(names) > call.app.settings.max_corp_tags:
        raise ApiError(40126, f"at most {call.app.settings.max_corp_tags} corp tags")
    if group is None:
        group_id = ids.tag_id()
        db.execute(
            'INSERT INTO tag_group (group_id, name, create_time, "order") VALUES (?, ?, ?, ?)',
            (group_id, group_name, call.now, integer(call, "order", 0)),
        )
        group = one(db, "SELECT * FROM tag_group WHERE group_id = ?", (group_id,))
    created = []
    for tag, name in zip(tags, names, strict=True):
        tag_id = ids.tag_id()
        order = int(tag.get("order") or 0)
        db.execute(
            'INSERT INTO tag (id, group_id, name, create_time, "order") VALUES (?, ?, ?, ?, ?)',
            (tag_id, group["group_id"], name, call.now, order),
        )
        created.append(tag_id)
    return {"tag_group": _group_dict(db, group, created)}


@api("externalcontact/edit_corp_tag", "POST")
def edit_corp_tag(call: Call) -> dict:
    db = call.db
    target = text(call, "id", required=True)
    name = call.arg("name")
    order = integer(call, "order")
    tag = one(db, "SELECT * FROM tag WHERE id = ? AND deleted = 0", (target,))
    group = one(db, "SELECT * FROM tag_group WHERE group_id = ? AND deleted = 0", (target,))
    if tag is None and group is None:
        raise ApiError(40068, f"no tag or tag group {target}")
    if name is not None:
        name = _name(name, "tag" if tag else "group")
        clash = (
            one(
                db,
                "SELECT 1 FROM tag WHERE group_id = ? AND name = ? AND id != ? AND deleted = 0",
                (tag["group_id"], name, target),
            )
            if tag
            else one(db, "SELECT 1 FROM tag_group WHERE name = ? AND group_id != ? AND deleted = 0", (name, target))
        )
        if clash:
            raise ApiError(40071)
    table, key = ("tag", "id") if tag else ("tag_group", "group_id")
    if name is not None:
        db.execute(f"UPDATE {table} SET name = ? WHERE {key} = ?", (name, target))
    if order is not None:
        db.execute(f'UPDATE {table} SET "order" = ? WHERE {key} = ?', (order, target))
    return {}


def delete_tags(db, tag_ids: list[str], group_ids: list[str]) -> None:
    if group_ids:
        db.execute(f"UPDATE tag_group SET deleted = 1 WHERE group_id IN ({placeholders(group_ids)})", group_ids)
        sql = f"SELECT id FROM tag WHERE group_id IN ({placeholders(group_ids)})"
        tag_ids = tag_ids + [row["id"] for row in rows(db, sql, group_ids)]
    if tag_ids:
        db.execute(f"UPDATE tag SET deleted = 1 WHERE id IN ({placeholders(tag_ids)})", tag_ids)
        db.execute(f"DELETE FROM follow_tag WHERE tag_id IN ({placeholders(tag_ids)})", tag_ids)
    # A group left without live tags goes too.
    db.execute(
        "UPDATE tag_group SET deleted = 1 WHERE deleted = 0 AND NOT EXISTS"
        " (SELECT 1 FROM tag WHERE tag.group_id = tag_group.group_id AND tag.deleted = 0)"
    )


@api("externalcontact/del_corp_tag", "POST")
def del_corp_tag(call: Call) -> dict:
    tag_ids = str_list(call, "tag_id")
    group_ids = str_list(call, "group_id")
    if not tag_ids and not group_ids:
        raise ApiError(40063, "tag_id or group_id is required")
    live_tags = {row["id"] for row in rows(call.db, "SELECT id FROM tag WHERE deleted = 0")}
    live_groups = {row["group_id"] for row in rows(call.db, "SELECT group_id FROM tag_group WHERE deleted = 0")}
    unknown = (set(tag_ids) - live_tags) | (set(group_ids) - live_groups)
    if unknown:
        raise ApiError(40068, f"unknown ids {sorted(unknown)}")
    delete_tags(call.db, tag_ids, group_ids)
    return {}


@api("externalcontact/mark_tag", "POST")
def mark_tag(call: Call) -> dict:
    userid = text(call, "userid", required=True)
    external_userid = text(call, "external_userid", required=True)
    add = str_list(call, "add_tag")
    remove = str_list(call, "remove_tag")
    if not add and not remove:
        raise ApiError(40063, "add_tag and remove_tag cannot both be empty")
    require_follow(call.db, userid, external_userid)
    wanted = add + remove
    live = {
        row["id"]
        for row in rows(call.db, f"SELECT id FROM tag WHERE deleted = 0 AND id IN ({placeholders(wanted)})", wanted)
    }
    if set(wanted) - live:
        raise ApiError(40068, f"unknown tags {sorted(set(wanted) - live)}")
    call.db.executemany(
        "INSERT OR IGNORE INTO follow_tag (userid, external_userid, tag_id) VALUES (?, ?, ?)",
        [(userid, external_userid, tag_id) for tag_id in add],
    )
    call.db.executemany(
        "DELETE FROM follow_tag WHERE userid = ? AND external_userid = ? AND tag_id = ?",
        [(userid, external_userid, tag_id) for tag_id in remove],
    )
    return {}
