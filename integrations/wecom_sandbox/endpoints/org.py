"""The directory: departments and members (read only; members who left the corp are not listed)."""

import json

from integrations.wecom_sandbox.endpoints import Call, api, integer, text
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.state import one, placeholders, rows

RESIGNED = 5  # member status: 1 active, 2 disabled, 4 not activated, 5 left the corp (离职)


def department_dict(row) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "name_en": row["name_en"],
        "department_leader": [],
        "parentid": row["parentid"],
        "order": row["order"],
    }


def member_dict(row) -> dict:
    departments = json.loads(row["department"])
    return {
        "userid": row["userid"],
        "name": row["name"],
        "department": departments,
        "order": [0] * len(departments),
        "position": row["position"],
        "mobile": row["mobile"],
        "gender": row["gender"],
        "email": row["email"],
        "is_leader_in_dept": [0] * len(departments),
        "direct_leader": [],
        "avatar": "",
        "thumb_avatar": "",
        "telephone": "",
        "alias": "",
        "status": row["status"],
        "main_department": row["main_department"],
        "extattr": {"attrs": []},
        "qr_code": "",
        "external_position": "",
        "address": "",
    }


def subtree(db, department_id: int) -> list[int]:
    found = [department_id]
    frontier = [department_id]
    while frontier:
        children = [
            row["id"]
            for row in rows(db, f"SELECT id FROM department WHERE parentid IN ({placeholders(frontier)})", frontier)
        ]
        found += children
        frontier = children
    return found


def _existing_department(call: Call, key: str, *, required: bool) -> int | None:
    department_id = integer(call, key, required=required)
    if department_id is not None and one(call.db, "SELECT 1 FROM department WHERE id = ?", (department_id,)) is None:
        raise ApiError(60123)
    return department_id


@api("department/list", "GET")
def department_list(call: Call) -> dict:
    department_id = _existing_department(call, "id", required=False)
    if department_id is None:
        found = rows(call.db, 'SELECT * FROM department ORDER BY parentid, "order" DESC, id')
    else:
        ids = subtree(call.db, department_id)
        found = rows(call.db, f"SELECT * FROM department WHERE id IN ({placeholders(ids)}) ORDER BY parentid, id", ids)
    return {"department": [department_dict(row) for row in found]}


def _members_of(call: Call):
    department_id = _existing_department(call, "department_id", required=True)
    departments = subtree(call.db, department_id) if integer(call, "fetch_child", 0) == 1 else [department_id]
    return rows(
        call.db,
        "SELECT DISTINCT m.* FROM member m, json_each(m.department) d"
        f" WHERE d.value IN ({placeholders(departments)}) AND m.status != ? ORDER BY m.userid",
        [*departments, RESIGNED],
    )


@api("user/list", "GET")
def user_list(call: Call) -> dict:
    return {"userlist": [member_dict(row) for row in _members_of(call)]}


@api("user/simplelist", "GET")
def user_simplelist(call: Call) -> dict:
    return {
        "userlist": [
            {"userid": row["userid"], "name": row["name"], "department": json.loads(row["department"])}
            for row in _members_of(call)
        ]
    }


@api("user/get", "GET")
def user_get(call: Call) -> dict:
    userid = text(call, "userid")
    if not userid:
        raise ApiError(41009)
    row = one(call.db, "SELECT * FROM member WHERE userid = ?", (userid,))
    if row is None:
        raise ApiError(60111, f"userid {userid!r} not found")
    return member_dict(row)
