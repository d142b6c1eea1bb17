"""App messages to members (message/send, DOC-90236 / DOC-90372).

Recipients that are not active members come back in `invaliduser` (81013 when nobody is valid). Each member
receives at most `app_msg_per_minute` (30) and `app_msg_per_hour` (1000) messages from the app: the excess is
silently dropped, as WeCom does, and recorded as dropped so tests and the sandbox page can see it.
"""

import hashlib
import json

from integrations.wecom_sandbox import ids
from integrations.wecom_sandbox.content import check_media
from integrations.wecom_sandbox.endpoints import Call, api, byte_len, integer, text
from integrations.wecom_sandbox.endpoints.org import subtree
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.state import placeholders, rows

RECIPIENTS_MAX = 1000
DUPLICATE_INTERVAL_DEFAULT = 1800
DUPLICATE_INTERVAL_MAX = 4 * 3600

# msgtype → [(field, byte limit, required)]
_LIMITS = {
    "text": [("content", 2048, True)],
    "markdown": [("content", 2048, True)],
    "textcard": [("title", 128, True), ("description", 512, True), ("url", 2048, True), ("btntxt", 12, False)],
}
_MEDIA_TYPES = ("image", "voice", "video", "file")
_OTHER_TYPES = ("news", "mpnews", "miniprogram_notice", "template_card")


def _check_body(call: Call, msgtype: str) -> dict:
    detail = call.body.get(msgtype)
    if not isinstance(detail, dict):
        raise ApiError(
            40058 if msgtype in _LIMITS or msgtype in _MEDIA_TYPES or msgtype in _OTHER_TYPES else 40008,
            f"{msgtype} must be an object",
        )
    for name, max_bytes, required in _LIMITS.get(msgtype, []):
        value = detail.get(name) or ""
        if not isinstance(value, str):
            raise ApiError(40058, f"{msgtype}.{name} must be a string")
        if required and not value:
            raise ApiError(40063, f"{msgtype}.{name} is required")
        if byte_len(value) > max_bytes:
            raise ApiError(45002, f"{msgtype}.{name} exceeds {max_bytes} bytes")
    if msgtype == "textcard" and len(detail.get("btntxt") or "") > 4:
        raise ApiError(45002, "textcard.btntxt exceeds 4 characters")
    if msgtype in _MEDIA_TYPES:
        check_media(call.db, str(detail.get("media_id") or ""), call.now)
    if msgtype == "news" and not 1 <= len(detail.get("articles") or []) <= 8:
        raise ApiError(40058, "news takes 1 to 8 articles")
    return detail


def _recipients(call: Call) -> tuple[list[str], list[str], list[str], list[str]]:
    """(valid userids, invalid users, invalid parties, invalid tags)."""
    db = call.db
    touser = text(call, "touser")
    toparty = text(call, "toparty")
    totag = text(call, "totag")
    if not (touser or toparty or totag):
        raise ApiError(40063, "touser, toparty and totag cannot all be empty")
    active = {row[0] for row in rows(db, "SELECT userid FROM member WHERE status = 1")}
    users = [user for user in touser.split("|") if user] if touser else []
    if len(users) > RECIPIENTS_MAX:
        raise ApiError(40058, f"touser takes at most {RECIPIENTS_MAX} members")
    if users == ["@all"]:
        return sorted(active), [], [], []
    valid = [user for user in dict.fromkeys(users) if user in active]
    invalid_users = [user for user in dict.fromkeys(users) if user not in active]
    invalid_parties = []
    for party in [p for p in toparty.split("|") if p] if toparty else []:
        if not party.isdigit() or db.execute("SELECT 1 FROM department WHERE id = ?", (int(party),)).fetchone() is None:
            invalid_parties.append(party)
            continue
        departments = subtree(db, int(party))
        valid += [
            row[0]
            for row in rows(
                db,
                "SELECT DISTINCT m.userid FROM member m, json_each(m.department) d"
                f" WHERE d.value IN ({placeholders(departments)}) AND m.status = 1",
                departments,
            )
        ]
    # The sandbox has no member tags: every tag is invalid.
    invalid_tags = [tag for tag in totag.split("|") if tag] if totag else []
    return list(dict.fromkeys(valid)), invalid_users, invalid_parties, invalid_tags


@api("message/send", "POST")
def message_send(call: Call) -> dict:
    db, settings = call.db, call.app.settings
    if integer(call, "agentid") != call.app.identity.agent_id:
        raise ApiError(40056)
    msgtype = text(call, "msgtype", required=True)
    if msgtype not in (*_LIMITS, *_MEDIA_TYPES, *_OTHER_TYPES):
        raise ApiError(40008)
    detail = _check_body(call, msgtype)
    valid, invalid_users, invalid_parties, invalid_tags = _recipients(call)
    lists = {"invaliduser": invalid_users, "invalidparty": invalid_parties, "invalidtag": invalid_tags}
    invalid = {key: "|".join(values) for key, values in lists.items() if values}
    if not valid:
        raise ApiError(81013, **invalid)
    msgid = ids.msgid()
    content_hash = hashlib.sha256(json.dumps([msgtype, detail], sort_keys=True).encode()).hexdigest()
    duplicate = False
    if integer(call, "enable_duplicate_check", 0) == 1:
        interval = min(integer(call, "duplicate_check_interval", DUPLICATE_INTERVAL_DEFAULT), DUPLICATE_INTERVAL_MAX)
        duplicate = bool(
            db.execute(
                "SELECT 1 FROM app_message WHERE content_hash = ? AND sent_at > ?", (content_hash, call.now - interval)
            ).fetchone()
        )
    stored = json.dumps(call.body, ensure_ascii=False)
    db.execute(
        "INSERT INTO app_message (msgid, sent_at, msgtype, body, content_hash, invaliduser) VALUES (?, ?, ?, ?, ?, ?)",
        (msgid, call.now, msgtype, stored, content_hash, invalid.get("invaliduser", "")),
    )
    deliveries = []
    for userid in valid:
        if duplicate:
            outcome = "duplicate"
        else:
            minute, hour = db.execute(
                "SELECT SUM(at > ?), COUNT(*) FROM app_delivery WHERE userid = ? AND outcome = 'delivered' AND at > ?",
                (call.now - 60, userid, call.now - 3600),
            ).fetchone()
            over = (minute or 0) >= settings.app_msg_per_minute or (hour or 0) >= settings.app_msg_per_hour
            outcome = "dropped" if over else "delivered"
        deliveries.append((msgid, userid, call.now, outcome))
    db.executemany("INSERT INTO app_delivery (msgid, userid, at, outcome) VALUES (?, ?, ?, ?)", deliveries)
    return invalid | {"msgid": msgid}
