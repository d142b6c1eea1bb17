"""Work that falls due with time: members confirming mass-message tasks, customer transfers completing.

Mass messages (DOC-92135): nothing is sent until the member confirms in the WeCom client. On confirmation each
customer of the task gets status 1 (sent), 2 (no longer a friend of the member) or 3 (over the per-customer
quota: as many a month as the month has days by default, or 7 a week, or 1 a day, counted in China time).
"""

import calendar
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from integrations.wecom_sandbox.state import rows

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

CHINA = timezone(timedelta(hours=8))
ADD_WAY_ASSIGNED = 202  # 管理员/负责人分配: how a taken-over customer shows on the new member


def quota_window(mode: str, at: int) -> tuple[int, int, int]:
    """(start, end, limit) of the quota period containing `at`."""
    moment = datetime.fromtimestamp(at, CHINA)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if mode == "1_per_day":
        start, end, limit = day, day + timedelta(days=1), 1
    elif mode == "7_per_week":
        start = day - timedelta(days=day.weekday())
        end, limit = start + timedelta(days=7), 7
    else:
        start = day.replace(day=1)
        limit = calendar.monthrange(start.year, start.month)[1]
        end = start + timedelta(days=limit)
    return int(start.timestamp()), int(end.timestamp()), limit


def confirm_task(app: "SandboxApp", db, msgid: str, userid: str, at: int) -> dict:
    """The member sends the task now: per-customer statuses; returns the counts per status."""
    targets = [
        row["external_userid"]
        for row in rows(
            db,
            "SELECT external_userid FROM groupmsg_result WHERE msgid = ? AND userid = ? AND status = 0",
            (msgid, userid),
        )
    ]
    friends = {
        row["external_userid"]
        for row in rows(
            db,
            "SELECT f.external_userid FROM groupmsg_result r JOIN follow f"
            " ON f.userid = r.userid AND f.external_userid = r.external_userid"
            " WHERE r.msgid = ? AND r.userid = ?",
            (msgid, userid),
        )
    }
    start, end, limit = quota_window(app.settings.quota_mode, at)
    received = {
        row[0]: row[1]
        for row in rows(
            db,
            "SELECT external_userid, COUNT(*) FROM groupmsg_result WHERE status = 1 AND send_time >= ?"
            " AND send_time < ? AND external_userid IN"
            " (SELECT external_userid FROM groupmsg_result WHERE msgid = ? AND userid = ?)"
            " GROUP BY external_userid",
            (start, end, msgid, userid),
        )
    }
    outcome = {1: 0, 2: 0, 3: 0}
    updates = []
    for external_userid in targets:
        if external_userid not in friends:
            status = 2
        elif received.get(external_userid, 0) >= limit:
            status = 3
        else:
            status = 1
            received[external_userid] = received.get(external_userid, 0) + 1
        outcome[status] += 1
        updates.append((status, at if status == 1 else None, msgid, userid, external_userid))
    db.executemany(
        "UPDATE groupmsg_result SET status = ?, send_time = ? WHERE msgid = ? AND userid = ? AND external_userid = ?",
        updates,
    )
    db.execute("UPDATE groupmsg_task SET status = 2, send_time = ? WHERE msgid = ? AND userid = ?", (at, msgid, userid))
    return outcome


def complete_transfer(app: "SandboxApp", db, transfer, at: int) -> dict | None:
    """Finish one waiting transfer; the transfer_fail callback fields when the customer refused, else None."""
    refuse = transfer["kind"] == "onjob" and app.rng.random() < app.settings.transfer_refuse_rate
    if refuse:
        db.execute("UPDATE transfer SET status = 3, takeover_time = NULL WHERE id = ?", (transfer["id"],))
        return {
            "Event": "change_external_contact",
            "ChangeType": "transfer_fail",
            "FailReason": "customer_refused",
            "UserID": transfer["takeover"],
            "ExternalUserID": transfer["external_userid"],
        }
    handover, takeover, external_userid = transfer["handover"], transfer["takeover"], transfer["external_userid"]
    old = db.execute(
        "SELECT * FROM follow WHERE userid = ? AND external_userid = ?", (handover, external_userid)
    ).fetchone()
    if old is not None:
        # The takeover member inherits the remark, description and tags (WeCom carries them over).
        db.execute(
            "INSERT OR IGNORE INTO follow (userid, external_userid, remark, description, remark_corp_name,"
            " remark_mobiles, createtime, add_way, state, oper_userid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                takeover,
                external_userid,
                old["remark"],
                old["description"],
                old["remark_corp_name"],
                old["remark_mobiles"],
                at,
                ADD_WAY_ASSIGNED,
                old["state"],
                takeover,
            ),
        )
        db.execute(
            "INSERT OR IGNORE INTO follow_tag (userid, external_userid, tag_id)"
            " SELECT ?, external_userid, tag_id FROM follow_tag WHERE userid = ? AND external_userid = ?",
            (takeover, handover, external_userid),
        )
        db.execute("DELETE FROM follow WHERE userid = ? AND external_userid = ?", (handover, external_userid))
        db.execute("DELETE FROM follow_tag WHERE userid = ? AND external_userid = ?", (handover, external_userid))
    db.execute("UPDATE transfer SET status = 1, takeover_time = ? WHERE id = ?", (at, transfer["id"]))
    return None


def process_due(app: "SandboxApp", db, now: int, *, transfers_now: bool = False) -> list[dict]:
    """Confirm due tasks and complete due transfers; the callback events this produced (to post after commit)."""
    events = []
    for task in rows(
        db,
        "SELECT t.msgid, t.userid, t.confirm_due FROM groupmsg_task t JOIN groupmsg g ON g.msgid = t.msgid"
        " WHERE t.status = 0 AND t.skipped = 0 AND t.confirm_due IS NOT NULL AND t.confirm_due <= ?"
        " AND g.cancelled_at IS NULL ORDER BY t.confirm_due",
        (now,),
    ):
        confirm_task(app, db, task["msgid"], task["userid"], task["confirm_due"])
    due = "" if transfers_now else " AND due <= ?"
    for transfer in rows(
        db, f"SELECT * FROM transfer WHERE status = 2{due} ORDER BY due, id", () if transfers_now else (now,)
    ):
        fields = complete_transfer(app, db, transfer, now if transfers_now else transfer["due"])
        if fields:
            events.append(fields)
    return events
