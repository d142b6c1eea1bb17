"""Customer transfer (继承): on the job (DOC-92125 / 96325) and after a member left (DOC-92124 / 96331).

A transfer waits `transfer_delay` seconds (24 h at WeCom) and then completes: the customer moves to the
takeover member (status 1), or — on-the-job only, at `transfer_refuse_rate` — refuses (status 3, and a
transfer_fail callback). A customer can be transferred at most twice in 90 days (40128).
"""

from integrations.wecom_sandbox.endpoints import Call, api, page, str_list, text
from integrations.wecom_sandbox.endpoints.org import RESIGNED
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.ids import make_cursor, read_cursor
from integrations.wecom_sandbox.state import one, placeholders, rows

CUSTOMERS_MAX = 100
TRANSFERS_PER_90_DAYS = 2
RESULTS_PER_PAGE = 1000


def _transfer(call: Call, kind: str) -> dict:
    db = call.db
    handover = text(call, "handover_userid", required=True)
    takeover = text(call, "takeover_userid", required=True)
    externals = str_list(call, "external_userid", max_items=CUSTOMERS_MAX)
    if not externals:
        raise ApiError(40063, "external_userid is required")
    success_msg = text(call, "transfer_success_msg", max_chars=200) if kind == "onjob" else ""
    if handover == takeover:
        raise ApiError(40130)
    handover_row = one(db, "SELECT status FROM member WHERE userid = ?", (handover,))
    if handover_row is None:
        raise ApiError(60111, f"handover {handover!r} not found")
    if kind == "resigned" and handover_row["status"] != RESIGNED:
        raise ApiError(40097)
    if one(db, "SELECT 1 FROM member WHERE userid = ? AND status = 1", (takeover,)) is None:
        raise ApiError(60111, f"takeover {takeover!r} is not an active member")
    followed = {
        row[0]
        for row in rows(
            db,
            f"SELECT external_userid FROM follow WHERE userid = ? AND external_userid IN ({placeholders(externals)})",
            [handover, *externals],
        )
    }
    history: dict[str, list] = {}
    for row in rows(
        db,
        f"SELECT external_userid, status FROM transfer WHERE external_userid IN ({placeholders(externals)})"
        " AND created > ? AND status != 3",
        [*externals, call.now - 90 * 86400],
    ):
        history.setdefault(row["external_userid"], []).append(row["status"])
    due = call.now + int(round(call.app.settings.transfer_delay))
    answers = []
    for external_userid in externals:
        past = history.get(external_userid, [])
        if external_userid not in followed:
            errcode = 40131
        elif 2 in past:
            errcode = 40129
        elif len(past) >= TRANSFERS_PER_90_DAYS:
            errcode = 40128
        else:
            errcode = 0
            db.execute(
                "INSERT INTO transfer (kind, handover, takeover, external_userid, status, created, due, success_msg)"
                " VALUES (?, ?, ?, ?, 2, ?, ?, ?)",
                (kind, handover, takeover, external_userid, call.now, due, success_msg),
            )
        answers.append({"external_userid": external_userid, "errcode": errcode})
    return {"customer": answers}


def _result(call: Call, kind: str) -> dict:
    handover = text(call, "handover_userid", required=True)
    takeover = text(call, "takeover_userid", required=True)
    cursor_kind = f"transfer_result:{kind}:{handover}:{takeover}"
    after = read_cursor(cursor_kind, call.arg("cursor")) or ""
    found, more = page(
        rows(
            call.db,
            "SELECT external_userid, status, due, takeover_time, MAX(id) FROM transfer"
            " WHERE kind = ? AND handover = ? AND takeover = ? AND external_userid > ?"
            " GROUP BY external_userid ORDER BY external_userid LIMIT ?",
            (kind, handover, takeover, after, RESULTS_PER_PAGE + 1),
        ),
        RESULTS_PER_PAGE,
    )
    customers = []
    for row in found:
        # While waiting, takeover_time is when the transfer will complete.
        takeover_time = row["takeover_time"] if row["status"] == 1 else row["due"] if row["status"] == 2 else 0
        customers.append(
            {"external_userid": row["external_userid"], "status": row["status"], "takeover_time": takeover_time}
        )
    cursor = make_cursor(cursor_kind, found[-1]["external_userid"]) if more else ""
    return {"customer": customers, "next_cursor": cursor}


@api("externalcontact/transfer_customer", "POST")
def transfer_customer(call: Call) -> dict:
    return _transfer(call, "onjob")


@api("externalcontact/resigned/transfer_customer", "POST")
def resigned_transfer_customer(call: Call) -> dict:
    return _transfer(call, "resigned")


@api("externalcontact/transfer_result", "POST")
def transfer_result(call: Call) -> dict:
    return _result(call, "onjob")


@api("externalcontact/resigned/transfer_result", "POST")
def resigned_transfer_result(call: Call) -> dict:
    return _result(call, "resigned")


@api("externalcontact/get_unassigned_list", "POST")
def get_unassigned_list(call: Call) -> dict:
    """Customers of members who left and are not (being) transferred."""
    size = _page_size(call)
    after = read_cursor("unassigned", call.arg("cursor")) or ["", ""]
    found, more = page(
        rows(
            call.db,
            "SELECT f.userid, f.external_userid, m.dimission_time FROM follow f JOIN member m ON m.userid = f.userid"
            " WHERE m.status = ? AND (f.userid, f.external_userid) > (?, ?) AND NOT EXISTS (SELECT 1 FROM transfer t"
            " WHERE t.handover = f.userid AND t.external_userid = f.external_userid AND t.status = 2)"
            " ORDER BY f.userid, f.external_userid LIMIT ?",
            (RESIGNED, after[0], after[1], size + 1),
        ),
        size,
    )
    info = [
        {"handover_userid": row["userid"], "external_userid": row["external_userid"], "dimission_time": row[2]}
        for row in found
    ]
    cursor = make_cursor("unassigned", [found[-1]["userid"], found[-1]["external_userid"]]) if more else ""
    return {"info": info, "is_last": not more, "next_cursor": cursor}


def _page_size(call: Call) -> int:
    value = call.arg("page_size") or 1000
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ApiError(40058, "page_size must be an integer") from None
    return 1000 if value <= 0 else min(value, 1000)
