"""Member behaviour data (get_user_behavior_data, DOC-96358): one row per day, several members summed.

The figures are made up but deterministic: a hash of (userid, day) drives them, so the same question always
gets the same answer and different members differ.
"""

import hashlib
from datetime import datetime, timedelta

from integrations.wecom_sandbox.dispatch import CHINA
from integrations.wecom_sandbox.endpoints import Call, api, integer, str_list
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.state import placeholders, rows

SPAN_MAX_DAYS = 30
HISTORY_DAYS = 180


def day_figures(userid: str, day: str) -> dict:
    digest = hashlib.sha256(f"{userid}|{day}".encode()).digest()
    chats = digest[0] % 40
    replied = min(chats, chats - digest[1] % 6) if chats else 0
    return {
        "chat_cnt": chats,
        "message_cnt": chats * (2 + digest[2] % 5) + digest[3] % 7,
        "replied": max(replied, 0),
        "reply_minutes": 1 + digest[4] % 30,
        "negative_feedback_cnt": 1 if digest[5] % 17 == 0 else 0,
        "new_apply_cnt": digest[6] % 6,
        "new_contact_cnt": digest[7] % 5,
    }


@api("externalcontact/get_user_behavior_data", "POST", data_fetch=True)
def get_user_behavior_data(call: Call) -> dict:
    userids = str_list(call, "userid", max_items=100)
    parties = call.arg("partyid") or []
    if not isinstance(parties, list) or len(parties) > 100:
        raise ApiError(40058, "partyid takes at most 100 department ids")
    if not userids and not parties:
        raise ApiError(40063, "userid or partyid is required")
    start = integer(call, "start_time", required=True)
    end = integer(call, "end_time", required=True)
    if end < start or end - start > SPAN_MAX_DAYS * 86400:
        raise ApiError(40058, f"start_time to end_time spans at most {SPAN_MAX_DAYS} days")
    if start < call.now - HISTORY_DAYS * 86400:
        raise ApiError(40058, f"only the last {HISTORY_DAYS} days are kept")
    members = set(userids)
    if parties:
        members |= {
            row[0]
            for row in rows(
                call.db,
                "SELECT DISTINCT m.userid FROM member m, json_each(m.department) d"
                f" WHERE d.value IN ({placeholders(parties)})",
                parties,
            )
        }
    today = datetime.fromtimestamp(call.now, CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    day = datetime.fromtimestamp(start, CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    last = datetime.fromtimestamp(end, CHINA)
    data = []
    while day <= last and day < today:  # today's figures are not ready until tomorrow
        label = day.strftime("%Y-%m-%d")
        figures = [day_figures(userid, label) for userid in sorted(members)]
        chats = sum(f["chat_cnt"] for f in figures)
        replied = sum(f["replied"] for f in figures)
        row = {
            "stat_time": int(day.timestamp()),
            "chat_cnt": chats,
            "message_cnt": sum(f["message_cnt"] for f in figures),
            "negative_feedback_cnt": sum(f["negative_feedback_cnt"] for f in figures),
            "new_apply_cnt": sum(f["new_apply_cnt"] for f in figures),
            "new_contact_cnt": sum(f["new_contact_cnt"] for f in figures),
        }
        if chats:
            row["reply_percentage"] = round(100 * replied / chats, 2)
            row["avg_reply_time"] = round(sum(f["reply_minutes"] * f["replied"] for f in figures) / max(replied, 1))
        data.append(row)
        day += timedelta(days=1)
    return {"behavior_data": data}
