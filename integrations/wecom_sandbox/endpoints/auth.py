"""Credentials: the access token (DOC-91039), JS-SDK tickets, and web OAuth's `auth/getuserinfo`."""

import hashlib

from integrations.wecom_sandbox import ids
from integrations.wecom_sandbox.endpoints import Call, api, text
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.state import one

OAUTH_CODE_SECONDS = 300  # a code is usable once, within 5 minutes


def _reuse_or_issue(call: Call, kind: str, make) -> dict:
    """WeCom answers the same credential while it is valid (with the seconds it has left) and a new one after."""
    row = one(
        call.db,
        "SELECT token, expires FROM token WHERE kind = ? AND revoked = 0 AND expires > ? ORDER BY expires DESC LIMIT 1",
        (kind, call.now),
    )
    if row is not None:
        return {"value": row["token"], "expires_in": row["expires"] - call.now}
    ttl = call.app.settings.token_ttl
    value = make()
    call.db.execute(
        "INSERT INTO token (token, kind, issued, expires) VALUES (?, ?, ?, ?)", (value, kind, call.now, call.now + ttl)
    )
    return {"value": value, "expires_in": ttl}


@api("gettoken", "GET", needs_token=False)
def gettoken(call: Call) -> dict:
    identity = call.app.identity
    corp_id = text(call, "corpid")
    secret = text(call, "corpsecret")
    if not corp_id:
        raise ApiError(41002)
    if not secret:
        raise ApiError(41004)
    if corp_id != identity.corp_id:
        raise ApiError(40013)
    if secret != identity.secret:
        raise ApiError(40001)
    issued = _reuse_or_issue(call, "access", ids.access_token)
    return {"access_token": issued["value"], "expires_in": issued["expires_in"]}


@api("get_jsapi_ticket", "GET")
def get_jsapi_ticket(call: Call) -> dict:
    issued = _reuse_or_issue(call, "jsapi", ids.ticket)
    return {"ticket": issued["value"], "expires_in": issued["expires_in"]}


@api("ticket/get", "GET")
def agent_ticket(call: Call) -> dict:
    if text(call, "type") != "agent_config":
        raise ApiError(40058, "type must be agent_config")
    issued = _reuse_or_issue(call, "agent_config", ids.ticket)
    return {"ticket": issued["value"], "expires_in": issued["expires_in"]}


@api("auth/getuserinfo", "GET")
def getuserinfo(call: Call) -> dict:
    code = text(call, "code", required=True)
    row = one(call.db, "SELECT userid, issued, used FROM oauth_code WHERE code = ?", (code,))
    if row is None or row["used"] or row["issued"] + OAUTH_CODE_SECONDS < call.now:
        raise ApiError(40029)
    call.db.execute("UPDATE oauth_code SET used = 1 WHERE code = ?", (code,))
    if row["userid"]:
        return {"userid": row["userid"]}
    # Not a member (DOC-91023 b): openid, plus external_userid when the visitor is a customer some member follows.
    visitor = one(call.db, "SELECT openid, external_userid FROM oauth_visitor WHERE code = ?", (code,))
    answer = {"openid": visitor["openid"]}
    external_userid = visitor["external_userid"]
    if external_userid and one(
        call.db,
        "SELECT 1 FROM follow f JOIN member m ON m.userid = f.userid WHERE f.external_userid = ? AND m.status = 1",
        (external_userid,),
    ):
        answer["external_userid"] = external_userid
    return answer


def issue_oauth_code(db, userid: str, now: int) -> str:
    code = ids.oauth_code()
    db.execute("INSERT INTO oauth_code (code, userid, issued) VALUES (?, ?, ?)", (code, userid, now))
    return code


def visitor_openid(corp_id: str, external_userid: str) -> str:
    """A WeChat user's openid for this corp: stable per person (here derived from the contact's id)."""
    return "o" + hashlib.sha256(f"{corp_id}|{external_userid}".encode()).hexdigest()[:27]


def issue_visitor_code(db, corp_id: str, external_userid: str, now: int) -> str:
    """A code for a WeChat user who is not a member: a customer (external_userid) or anyone ('')."""
    code = ids.oauth_code()
    openid = visitor_openid(corp_id, external_userid or ids.oauth_code())
    db.execute("INSERT INTO oauth_code (code, userid, issued) VALUES (?, '', ?)", (code, now))
    db.execute(
        "INSERT INTO oauth_visitor (code, openid, external_userid) VALUES (?, ?, ?)", (code, openid, external_userid)
    )
    return code
