"""What the sandbox received and did, for `GET /sandbox/api/received`, `GET callbacks` and the sandbox page."""

import json
from typing import TYPE_CHECKING

from integrations.wecom_sandbox.jssdk import chat_messages as sidebar_chat_messages
from integrations.wecom_sandbox.state import rows

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

RESULTS_PER_TASK = 1000


def groupmsgs(db, limit: int) -> list[dict]:
    found = []
    for message in rows(db, "SELECT * FROM groupmsg ORDER BY create_time DESC, msgid LIMIT ?", (limit,)):
        body = json.loads(message["body"])
        tasks = []
        for task in rows(db, "SELECT * FROM groupmsg_task WHERE msgid = ? ORDER BY userid", (message["msgid"],)):
            results = rows(
                db,
                "SELECT r.external_userid, r.status, r.send_time, c.name FROM groupmsg_result r"
                " LEFT JOIN contact c ON c.external_userid = r.external_userid"
                " WHERE r.msgid = ? AND r.userid = ? ORDER BY r.external_userid LIMIT ?",
                (message["msgid"], task["userid"], RESULTS_PER_TASK),
            )
            tasks.append(
                {
                    "userid": task["userid"],
                    "status": task["status"],
                    "send_time": task["send_time"],
                    "confirm_due": task["confirm_due"],
                    "skipped": bool(task["skipped"]),
                    "results": [dict(result) for result in results],
                }
            )
        found.append(
            {
                "msgid": message["msgid"],
                "chat_type": message["chat_type"],
                "create_time": message["create_time"],
                "sender": body.get("sender", ""),
                "text": body["text"],
                "attachments": body["attachments"],
                "fail_list": json.loads(message["fail_list"]),
                "cancelled": message["cancelled_at"] is not None,
                "reminds": json.loads(message["reminds"]),
                "tasks": tasks,
            }
        )
    return found


def app_messages(db, limit: int) -> list[dict]:
    found = []
    for message in rows(db, "SELECT * FROM app_message ORDER BY sent_at DESC, rowid DESC LIMIT ?", (limit,)):
        deliveries = rows(db, "SELECT userid, outcome, at FROM app_delivery WHERE msgid = ? ORDER BY userid",
                          (message["msgid"],))  # fmt: skip
        body = json.loads(message["body"])
        found.append(
            {
                "msgid": message["msgid"],
                "sent_at": message["sent_at"],
                "msgtype": message["msgtype"],
                "content": body.get(message["msgtype"], {}),
                "invaliduser": message["invaliduser"],
                "deliveries": [dict(row) for row in deliveries],
            }
        )
    return found


def everything(app: "SandboxApp", *, limit: int = 100) -> dict:
    with app.store.tx() as db:
        welcome = [
            dict(row) | {"body": json.loads(row["body"])}
            for row in rows(db, "SELECT * FROM welcome_message ORDER BY sent_at DESC, id DESC LIMIT ?", (limit,))
        ]
        media = [
            dict(row)
            for row in rows(
                db,
                "SELECT media_id, type, filename, content_type, size, created_at, via FROM media"
                " ORDER BY created_at DESC LIMIT ?",
                (limit,),
            )
        ]
        transfers = [dict(row) for row in rows(db, "SELECT * FROM transfer ORDER BY id DESC LIMIT ?", (limit,))]
        return {
            "groupmsgs": groupmsgs(db, limit),
            "app_messages": app_messages(db, limit),
            "welcome_messages": [
                {key: value for key, value in item.items() if key != "body"} | item["body"] for item in welcome
            ],
            "media": media,
            "transfers": transfers,
            "chat_messages": sidebar_chat_messages(db, limit),
        }


def callbacks(app: "SandboxApp", *, limit: int = 50) -> list[dict]:
    with app.store.tx() as db:
        return [
            dict(row) | {"attempts": json.loads(row["attempts"]), "delivered": bool(row["delivered"])}
            for row in rows(db, "SELECT * FROM callback ORDER BY id DESC LIMIT ?", (limit,))
        ]
