"""「联系我」 channel codes (DOC-92228) and welcome messages (send_welcome_msg, DOC-92137).

A config's `state` comes back in the add_external_contact callback and in follow_user.state when a customer
adds a member through it (the simulator and the sandbox page's "scan" button do exactly that).
"""

import json

from integrations.wecom_sandbox import ids
from integrations.wecom_sandbox.content import check_content
from integrations.wecom_sandbox.endpoints import Call, api, integer, limit, page, str_list, text
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.ids import make_cursor, read_cursor
from integrations.wecom_sandbox.state import one, placeholders, rows

MEMBERS_MAX = 100
CONFIGS_MAX = 500_000
WELCOME_CODE_SECONDS = 20
_FIELDS = ("style", "remark", "skip_verify", "state", "user", "party", "expires_in", "chat_expires_in", "unionid",
           "conclusions")  # fmt: skip


def _validated(call: Call, current: dict | None) -> dict:
    """The config after applying this request's fields to `current` (None: a new config)."""
    config = dict(current or {"skip_verify": True, "style": 1, "remark": "", "state": "", "user": [], "party": []})
    if current is None:
        config["type"] = integer(call, "type", required=True)
        config["scene"] = integer(call, "scene", required=True)
        if config["type"] not in (1, 2) or config["scene"] not in (1, 2):
            raise ApiError(40058, "type and scene are 1 or 2")
        config["is_temp"] = bool(call.arg("is_temp", False))
    for name in _FIELDS:
        if name in call.body:
            config[name] = call.body[name]
    text(call, "remark", max_chars=30)
    text(call, "state", max_chars=30)
    users = str_list(call, "user") if "user" in call.body else config["user"]
    parties = config["party"]
    if not isinstance(parties, list) or not all(isinstance(p, int) for p in parties):
        raise ApiError(40058, "party must be a list of department ids")
    if not users and not parties:
        raise ApiError(40063, "user or party is required")
    if config["type"] == 1 and (len(users) != 1 or parties):
        raise ApiError(40058, "a single-member config (type 1) takes exactly one user")
    if len(users) > MEMBERS_MAX:
        raise ApiError(41041, f"at most {MEMBERS_MAX} members")
    sql = f"SELECT userid FROM member WHERE status = 1 AND userid IN ({placeholders(users)})"
    known = {row[0] for row in rows(call.db, sql, users)}
    if set(users) - known:
        raise ApiError(40003, f"not active members: {sorted(set(users) - known)}")
    if parties:
        sql = f"SELECT id FROM department WHERE id IN ({placeholders(parties)})"
        found = {row[0] for row in rows(call.db, sql, parties)}
        if set(parties) - found:
            raise ApiError(60123)
    config["user"] = users
    if config.get("is_temp"):
        expires_in = int(config.get("expires_in") or 7 * 86400)
        if not 0 < expires_in <= 14 * 86400:
            raise ApiError(40058, "expires_in is at most 14 days")
        config["expires_in"] = expires_in
    return config


@api("externalcontact/add_contact_way", "POST")
def add_contact_way(call: Call) -> dict:
    if call.db.execute("SELECT COUNT(*) FROM contact_way").fetchone()[0] >= CONFIGS_MAX:
        raise ApiError(41045)
    config = _validated(call, None)
    config_id = ids.config_id()
    config["config_id"] = config_id
    if config["scene"] == 2:
        config["qr_code"] = f"{call.app.public_url}/sandbox/contact_way/{config_id}/qr.png"  # an image, as WeCom
    call.db.execute(
        "INSERT INTO contact_way (config_id, create_time, body) VALUES (?, ?, ?)",
        (config_id, call.now, json.dumps(config, ensure_ascii=False)),
    )
    return {"config_id": config_id} | ({"qr_code": config["qr_code"]} if "qr_code" in config else {})


def _existing(call: Call):
    config_id = text(call, "config_id", required=True)
    row = one(call.db, "SELECT * FROM contact_way WHERE config_id = ?", (config_id,))
    if row is None:
        raise ApiError(40058, f"invalid config_id {config_id}")
    return row


@api("externalcontact/get_contact_way", "POST")
def get_contact_way(call: Call) -> dict:
    return {"contact_way": json.loads(_existing(call)["body"])}


@api("externalcontact/update_contact_way", "POST")
def update_contact_way(call: Call) -> dict:
    row = _existing(call)
    config = _validated(call, json.loads(row["body"]))
    body = json.dumps(config, ensure_ascii=False)
    call.db.execute("UPDATE contact_way SET body = ? WHERE config_id = ?", (body, row["config_id"]))
    return {}


@api("externalcontact/del_contact_way", "POST")
def del_contact_way(call: Call) -> dict:
    call.db.execute("DELETE FROM contact_way WHERE config_id = ?", (_existing(call)["config_id"],))
    return {}


@api("externalcontact/list_contact_way", "POST")
def list_contact_way(call: Call) -> dict:
    start = integer(call, "start_time", call.now - 90 * 86400)
    end = integer(call, "end_time", call.now)
    size = limit(call, default=100, maximum=1000)
    after = read_cursor("contact_way", call.arg("cursor")) or [0, ""]
    found, more = page(
        rows(
            call.db,
            "SELECT config_id, create_time FROM contact_way WHERE create_time BETWEEN ? AND ?"
            " AND (create_time, config_id) > (?, ?) ORDER BY create_time, config_id LIMIT ?",
            (start, end, after[0], after[1], size + 1),
        ),
        size,
    )
    cursor = make_cursor("contact_way", [found[-1]["create_time"], found[-1]["config_id"]]) if more else ""
    return {"contact_way": [{"config_id": row["config_id"]} for row in found], "next_cursor": cursor}


@api("externalcontact/send_welcome_msg", "POST")
def send_welcome_msg(call: Call) -> dict:
    code = text(call, "welcome_code", required=True)
    row = one(call.db, "SELECT * FROM welcome_code WHERE code = ?", (code,))
    if row is None or row["issued"] + WELCOME_CODE_SECONDS < call.now:
        raise ApiError(41050)
    if row["used_at"] is not None:
        raise ApiError(41051)
    content, attachments = check_content(call.db, call.body, call.now)
    call.db.execute("UPDATE welcome_code SET used_at = ? WHERE code = ?", (call.now, code))
    call.db.execute(
        "INSERT INTO welcome_message (code, userid, external_userid, sent_at, body) VALUES (?, ?, ?, ?, ?)",
        (
            code,
            row["userid"],
            row["external_userid"],
            call.now,
            json.dumps({"text": {"content": content}, "attachments": attachments}, ensure_ascii=False),
        ),
    )
    return {}


def issue_welcome_code(db, userid: str, external_userid: str, now: int) -> str:
    code = ids.welcome_code()
    db.execute(
        "INSERT INTO welcome_code (code, userid, external_userid, issued) VALUES (?, ?, ?, ?)",
        (code, userid, external_userid, now),
    )
    return code
