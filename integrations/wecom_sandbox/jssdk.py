"""The WeCom JS-SDK, emulated: what `wx.agentConfig` and `wx.invoke` do inside the WeCom client.

The script at /jssdk/jwxwork.js (jssdk.js next to this file) defines `wx` in the page and sends every call here:

POST /jssdk/api/agent_config   {corpid, agentid, timestamp, nonceStr, signature, jsApiList, url}
    Checked as WeCom checks it: the corp (40013 "invalid corpId"), the app (40056), the page's origin against the
    app's trusted domain — here the origin of the `sidebar_url` setting (80001 "not match any reliable domain") —
    and the signature: sha1 of `jsapi_ticket=…&noncestr=…&timestamp=…&url=…` over a valid ticket issued by
    `ticket/get?type=agent_config` (40093 "invalid signature"). Success answers a token the page's invokes carry.
POST /jssdk/api/invoke         {token, api, args}
    getContext → entry single_chat_tools when a chat is open (else normal); getCurExternalContact → the chat's
    external_userid while the member still follows the customer; sendChatMessage → the message is kept as sent
    into the chat (the sandbox page's 「聊天工具栏发出的消息」, `GET /sandbox/api/received` chat_messages).
    An api missing from jsApiList, or no valid agentConfig: "<api>:fail no permission".

The chat is the one a person opened on the sandbox page (`client_side.py`): the page and these calls reach the
sandbox with its cookie, so the emulated client knows which member is chatting with whom, as the real client does.
"""

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from integrations.wecom_sandbox import ids
from integrations.wecom_sandbox.state import one, rows

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

SCRIPT = Path(__file__).with_name("jssdk.js")
CONFIG_SECONDS = 7200  # an agentConfig lasts as long as the page; a ticket's lifetime bounds it here
MORE_INFO = " more info at https://open.work.weixin.qq.com/devtool/query?e={}"
CHAT_MSGTYPES = ("text", "image", "video", "file", "news", "miniprogram")
TEXT_MAX_BYTES = 4000


def origin(url: str) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def signature(*, ticket: str, noncestr: str, timestamp, url: str) -> str:
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode()).hexdigest()  # noqa: S324 - WeCom's algorithm


def script(app: "SandboxApp") -> bytes:
    return SCRIPT.read_text(encoding="utf-8").replace("__SANDBOX_URL__", app.public_url).encode()


def _config_failure(errcode: int, reason: str) -> dict:
    return {"errMsg": f"agentConfig:{reason}" + MORE_INFO.format(errcode), "errCode": errcode}


def agent_config(app: "SandboxApp", body: dict, chat_id: str) -> dict:
    identity, now = app.identity, app.now()
    url = str(body.get("url") or "").split("#")[0]
    if str(body.get("corpid", "")) != identity.corp_id:
        return _config_failure(40013, "invalid corpId")
    if str(body.get("agentid", "")) != str(identity.agent_id):
        return _config_failure(40056, "invalid agentid")
    if not url or origin(url) != origin(app.settings.sidebar_url):
        return _config_failure(80001, "not match any reliable domain.")
    with app.store.tx() as db:
        tickets = rows(
            db,
            "SELECT token FROM token WHERE kind = 'agent_config' AND revoked = 0 AND expires > ?",
            (now,),
        )
        expected = {
            signature(ticket=row["token"], noncestr=body.get("nonceStr", ""), timestamp=body.get("timestamp", ""),
                      url=url)
            for row in tickets
        }  # fmt: skip
        if str(body.get("signature", "")).lower() not in expected:
            return _config_failure(40093, "invalid signature")
        token = ids.nonce() + ids.nonce()
        apis = [str(api) for api in body.get("jsApiList") or []]
        db.execute(
            "INSERT INTO jssdk_config (token, chat_id, url, apis, issued) VALUES (?, ?, ?, ?, ?)",
            (token, chat_id, url, json.dumps(apis), now),
        )
    return {"errMsg": "agentConfig:ok", "token": token}


def invoke(app: "SandboxApp", body: dict) -> dict:
    api = str(body.get("api", ""))
    args = body.get("args") if isinstance(body.get("args"), dict) else {}
    now = app.now()
    with app.store.tx() as db:
        config = one(db, "SELECT * FROM jssdk_config WHERE token = ?", (str(body.get("token", "")),))
        if config is None or config["issued"] + CONFIG_SECONDS < now or api not in json.loads(config["apis"]):
            return {"err_msg": f"{api}:fail no permission"}
        chat = one(db, "SELECT * FROM chat_context WHERE id = ?", (config["chat_id"],)) if config["chat_id"] else None
        if api == "getContext":
            return {"err_msg": "getContext:ok", "entry": "single_chat_tools" if chat else "normal",
                    "shareTicket": ids.nonce()}  # fmt: skip
        if chat is None:
            return {"err_msg": f"{api}:fail not in a chat"}
        follows = one(
            db,
            "SELECT 1 FROM follow f JOIN member m ON m.userid = f.userid"
            " WHERE f.userid = ? AND f.external_userid = ? AND m.status = 1",
            (chat["userid"], chat["external_userid"]),
        )
        if follows is None:
            return {"err_msg": f"{api}:fail the customer is no longer a contact of this member"}
        if api == "getCurExternalContact":
            return {"err_msg": "getCurExternalContact:ok", "userId": chat["external_userid"]}
        if api == "sendChatMessage":
            problem = _chat_message_problem(db, args, now)
            if problem:
                return {"err_msg": f"sendChatMessage:fail {problem}"}
            db.execute(
                "INSERT INTO chat_message (sent_at, userid, external_userid, msgtype, body) VALUES (?, ?, ?, ?, ?)",
                (now, chat["userid"], chat["external_userid"], args["msgtype"], json.dumps(args, ensure_ascii=False)),
            )
            return {"err_msg": "sendChatMessage:ok"}
    return {"err_msg": f"{api}:fail the sandbox does not emulate this api"}


def _chat_message_problem(db, args: dict, now: int) -> str:
    kind = args.get("msgtype")
    if kind not in CHAT_MSGTYPES:
        return "invalid msgtype"
    part = args.get(kind) if isinstance(args.get(kind), dict) else {}
    if kind == "text":
        content = str(part.get("content", ""))
        return "" if 0 < len(content.encode()) <= TEXT_MAX_BYTES else "invalid text content"
    if kind == "news":
        return "" if part.get("link") and part.get("title") else "news needs link and title"
    if kind == "miniprogram":
        return "" if part.get("appid") and part.get("page") else "miniprogram needs appid and page"
    media = one(db, "SELECT created_at FROM media WHERE media_id = ?", (str(part.get("mediaid", "")),))
    return "" if media is not None else "invalid mediaid"


def chat_messages(db, limit: int) -> list[dict]:
    """What members sent into chats from the sidebar, newest first (with the customer's name)."""
    found = rows(
        db,
        "SELECT m.*, c.name AS customer_name, u.name AS member_name FROM chat_message m"
        " LEFT JOIN contact c ON c.external_userid = m.external_userid"
        " LEFT JOIN member u ON u.userid = m.userid ORDER BY m.id DESC LIMIT ?",
        (limit,),
    )
    return [dict(row) | {"body": json.loads(row["body"])} for row in found]
