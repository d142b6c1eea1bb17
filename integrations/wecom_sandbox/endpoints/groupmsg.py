"""Creating a mass message (add_msg_template, DOC-92135), reminding and cancelling it.

One task per sender; the member confirms it in the WeCom client (here: after `confirm_delay` seconds — a share of
slow members after `slow_confirm_delay` —, or by
the control API / the sandbox page). Without `sender`, each customer is reached through one member: WeCom
picks the one who last chatted with them; the sandbox, which has no chats, picks the most recent follower.
"""

import hashlib
import json

from integrations.wecom_sandbox import ids
from integrations.wecom_sandbox.content import check_content
from integrations.wecom_sandbox.endpoints import Call, api, str_list, text
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.state import chunks, one, placeholders, rows

RECIPIENTS_MAX = 10_000
CHATS_MAX = 2000
REMINDS_PER_DAY = 3


def _tag_groups(call: Call) -> list[set[str]]:
    """tag_filter.group_list as sets of tag ids: OR inside a group, AND across groups."""
    tag_filter = call.arg("tag_filter") or {}
    groups = tag_filter.get("group_list") if isinstance(tag_filter, dict) else None
    if not groups:
        return []
    result = []
    for group in groups:
        tag_list = group.get("tag_list") if isinstance(group, dict) else None
        if not isinstance(tag_list, list) or not tag_list or len(tag_list) > 100:
            raise ApiError(40058, "tag_filter.group_list[].tag_list takes 1 to 100 tag ids")
        result.append(set(tag_list))
    wanted = sorted(set().union(*result))
    sql = f"SELECT id FROM tag WHERE deleted = 0 AND id IN ({placeholders(wanted)})"
    live = {row["id"] for row in rows(call.db, sql, wanted)}
    if set(wanted) - live:
        raise ApiError(40068, f"unknown tags {sorted(set(wanted) - live)}")
    return result


def _matches(tags: set[str], groups: list[set[str]]) -> bool:
    return all(tags & group for group in groups)


def _tags_by_pair(db, pairs: list[tuple[str, str]]) -> dict:
    found = {pair: set() for pair in pairs}
    externals = sorted({external for _, external in pairs})
    for part in chunks(externals):
        for row in rows(db, f"SELECT * FROM follow_tag WHERE external_userid IN ({placeholders(part)})", part):
            key = (row["userid"], row["external_userid"])
            if key in found:
                found[key].add(row["tag_id"])
    return found


def _recipients(call: Call, sender: str, wanted: list[str], groups: list[set[str]]) -> tuple[list, list]:
    """([(sender, external_userid)], fail_list): who gets the message through whom, and who cannot."""
    db = call.db
    if sender:
        friends = {row[0] for row in rows(db, "SELECT external_userid FROM follow WHERE userid = ?", (sender,))}
        fail = [e for e in wanted if e not in friends]
        pairs = [(sender, e) for e in (wanted or sorted(friends)) if e in friends]
        if groups:
            tags = _tags_by_pair(db, pairs)
            pairs = [pair for pair in pairs if _matches(tags[pair], groups)]
        return pairs, fail
    followers: dict[str, list[str]] = {}
    for part in chunks(wanted):
        for row in rows(
            db,
            "SELECT f.userid, f.external_userid FROM follow f JOIN member m ON m.userid = f.userid AND m.status = 1"
            f" WHERE f.external_userid IN ({placeholders(part)}) ORDER BY f.createtime DESC, f.userid",
            part,
        ):
            followers.setdefault(row["external_userid"], []).append(row["userid"])
    fail = [e for e in wanted if e not in followers]
    tags = _tags_by_pair(db, [(user, e) for e, users in followers.items() for user in users]) if groups else {}
    pairs = []
    for e in wanted:
        candidates = [user for user in followers.get(e, []) if not groups or _matches(tags[(user, e)], groups)]
        if candidates:
            pairs.append((candidates[0], e))
    return pairs, fail


@api("externalcontact/add_msg_template", "POST")
def add_msg_template(call: Call) -> dict:
    db = call.db
    chat_type = text(call, "chat_type") or "single"
    if chat_type not in ("single", "group"):
        raise ApiError(40058, "chat_type must be single or group")
    sender = text(call, "sender")
    if sender and one(db, "SELECT 1 FROM member WHERE userid = ? AND status = 1", (sender,)) is None:
        raise ApiError(40003, f"sender {sender!r} is not an active member")
    content, attachments = check_content(db, call.body, call.now)
    if chat_type == "group":
        if not sender:
            raise ApiError(40063, "sender is required for chat_type group")
        str_list(call, "chat_id_list", max_items=CHATS_MAX)
        raise ApiError(41048, "the sandbox has no customer group chats")
    wanted = str_list(call, "external_userid", max_items=RECIPIENTS_MAX)
    if not wanted and not sender:
        raise ApiError(40063, "external_userid and sender cannot both be empty")
    pairs, fail_list = _recipients(call, sender, wanted, _tag_groups(call))
    if not pairs:
        raise ApiError(41048, fail_list=fail_list)
    msgid = ids.msgid()
    stored = {"text": {"content": content}, "attachments": attachments, "sender": sender, "chat_type": chat_type}
    db.execute(
        "INSERT INTO groupmsg (msgid, chat_type, create_time, body, fail_list) VALUES (?, ?, ?, ?, ?)",
        (msgid, chat_type, call.now, json.dumps(stored, ensure_ascii=False), json.dumps(fail_list)),
    )
    senders = sorted({user for user, _ in pairs})
    db.executemany(
        "INSERT INTO groupmsg_task (msgid, userid, confirm_due) VALUES (?, ?, ?)",
        [(msgid, user, _confirm_due(call, user)) for user in senders],
    )
    db.executemany(
        "INSERT INTO groupmsg_result (msgid, userid, external_userid) VALUES (?, ?, ?)",
        [(msgid, user, external) for user, external in pairs],
    )
    return {"fail_list": fail_list, "msgid": msgid}


def _confirm_due(call: Call, userid: str) -> int | None:
    """When the member "confirms" in the client: never by itself (negative delay), late if a slow member, or soon."""
    settings = call.app.settings
    if settings.confirm_delay < 0:
        return None
    slow = int(hashlib.sha256(userid.encode()).hexdigest()[:8], 16) % 1000 < settings.slow_confirm_share * 1000
    return call.now + max(int(round(settings.slow_confirm_delay if slow else settings.confirm_delay)), 0)


def _existing(call: Call):
    msgid = text(call, "msgid")
    if not msgid:
        raise ApiError(41046)
    row = one(call.db, "SELECT * FROM groupmsg WHERE msgid = ?", (msgid,))
    if row is None:
        raise ApiError(41047)
    return row


@api("externalcontact/remind_groupmsg_send", "POST")
def remind_groupmsg_send(call: Call) -> dict:
    message = _existing(call)
    recent = [at for at in json.loads(message["reminds"]) if at > call.now - 24 * 3600]
    if len(recent) >= REMINDS_PER_DAY:
        raise ApiError(45009, f"at most {REMINDS_PER_DAY} reminders per mass message in 24 hours")
    call.db.execute(
        "UPDATE groupmsg SET reminds = ? WHERE msgid = ?", (json.dumps([*recent, call.now]), message["msgid"])
    )
    return {}


@api("externalcontact/cancel_groupmsg_send", "POST")
def cancel_groupmsg_send(call: Call) -> dict:
    message = _existing(call)
    if message["cancelled_at"] is None:
        call.db.execute("UPDATE groupmsg SET cancelled_at = ? WHERE msgid = ?", (call.now, message["msgid"]))
        call.db.execute("UPDATE groupmsg_task SET skipped = 1 WHERE msgid = ? AND status = 0", (message["msgid"],))
    return {}
