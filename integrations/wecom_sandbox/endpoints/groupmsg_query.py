"""Reading mass messages back: the list (DOC-93338), the per-member tasks and the per-customer results."""

import json

from integrations.wecom_sandbox.endpoints import Call, api, integer, limit, page, text
from integrations.wecom_sandbox.endpoints.groupmsg import _existing
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.ids import make_cursor, read_cursor
from integrations.wecom_sandbox.state import rows

LIST_SPAN_MAX = 31 * 24 * 3600  # start_time to end_time: at most a month


@api("externalcontact/get_groupmsg_list_v2", "POST", data_fetch=True)
def get_groupmsg_list_v2(call: Call) -> dict:
    chat_type = text(call, "chat_type") or "single"
    start = integer(call, "start_time", required=True)
    end = integer(call, "end_time", required=True)
    if end < start or end - start > LIST_SPAN_MAX:
        raise ApiError(40058, "start_time to end_time must span at most one month")
    filter_type = integer(call, "filter_type", 2)
    size = limit(call, default=50, maximum=100)
    after = read_cursor("groupmsg_list", call.arg("cursor")) or [0, 0]
    # Messages made through the API are corp messages (create_type 0) and carry no creator.
    if filter_type == 1 or text(call, "creator"):
        return {"group_msg_list": [], "next_cursor": ""}
    found, more = page(
        rows(
            call.db,
            "SELECT rowid, * FROM groupmsg WHERE chat_type = ? AND create_time BETWEEN ? AND ?"
            " AND (create_time, rowid) > (?, ?) ORDER BY create_time, rowid LIMIT ?",
            (chat_type, start, end, after[0], after[1], size + 1),
        ),
        size,
    )
    items = []
    for row in found:
        body = json.loads(row["body"])
        items.append(
            {
                "msgid": row["msgid"],
                "create_time": str(row["create_time"]),
                "create_type": 0,
                "text": body["text"],
                "attachments": body["attachments"],
            }
        )
    cursor = make_cursor("groupmsg_list", [found[-1]["create_time"], found[-1]["rowid"]]) if more else ""
    return {"group_msg_list": items, "next_cursor": cursor}


@api("externalcontact/get_groupmsg_task", "POST", data_fetch=True)
def get_groupmsg_task(call: Call) -> dict:
    message = _existing(call)
    size = limit(call, default=500, maximum=1000)
    after = read_cursor("groupmsg_task:" + message["msgid"], call.arg("cursor")) or ""
    found, more = page(
        rows(
            call.db,
            "SELECT * FROM groupmsg_task WHERE msgid = ? AND userid > ? ORDER BY userid LIMIT ?",
            (message["msgid"], after, size + 1),
        ),
        size,
    )
    tasks = []
    for row in found:
        task = {"userid": row["userid"], "status": row["status"]}
        if row["status"] == 2:
            task["send_time"] = row["send_time"]
        tasks.append(task)
    cursor = make_cursor("groupmsg_task:" + message["msgid"], found[-1]["userid"]) if more else ""
    return {"task_list": tasks, "next_cursor": cursor}


def _dispatching(call: Call, message, userid: str) -> bool:
    """WeCom answers 41063 while a mass message is being dispatched: just after creation, and after a send."""
    window = call.app.settings.dispatch_seconds
    if call.now < message["create_time"] + window:
        return True
    sent = rows(
        call.db,
        "SELECT send_time FROM groupmsg_task WHERE msgid = ? AND userid = ? AND status = 2",
        (message["msgid"], userid),
    )
    return any(call.now < row["send_time"] + window for row in sent)


@api("externalcontact/get_groupmsg_send_result", "POST", data_fetch=True)
def get_groupmsg_send_result(call: Call) -> dict:
    message = _existing(call)
    userid = text(call, "userid", required=True)
    if _dispatching(call, message, userid):
        raise ApiError(41063)
    size = limit(call, default=500, maximum=1000)
    kind = f"groupmsg_result:{message['msgid']}:{userid}"
    after = read_cursor(kind, call.arg("cursor")) or ""
    found, more = page(
        rows(
            call.db,
            "SELECT * FROM groupmsg_result WHERE msgid = ? AND userid = ? AND external_userid > ?"
            " ORDER BY external_userid LIMIT ?",
            (message["msgid"], userid, after, size + 1),
        ),
        size,
    )
    results = []
    for row in found:
        result = {"external_userid": row["external_userid"], "userid": row["userid"], "status": row["status"]}
        if row["status"] == 1:
            result["send_time"] = row["send_time"]
        results.append(result)
    return {"send_list": results, "next_cursor": make_cursor(kind, found[-1]["external_userid"]) if more else ""}
