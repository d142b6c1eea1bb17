"""The WeCom client's side of the sandbox: a member chatting with a customer, with the chat sidebar open.

- The sandbox page's form 「打开聊天工具栏」 (`section`) picks a member and one of the member's customers; posting
  it (`/sandbox/chat/open`) records the chat, gives the browser the sandbox's cookie `wecom_sandbox_chat` naming
  it, and sends the browser (a phone-sized window) to the sidebar page configured for the app (`sidebar_url`).
- Inside the WeCom client, web OAuth is silent: the client knows who is signed in. So `/connect/oauth2/authorize`
  asked for from a browser holding a chat cookie, on behalf of the sidebar page, issues the chat's member a code
  at once; any other request gets the usual picker (site.py).
- The JS-SDK (`jssdk.py`) is served and answered under /jssdk/, with CORS for the sidebar's origin only: the
  emulated script runs in the workbench's page and calls back here with the cookie.
"""

import json
import secrets
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from integrations.wecom_sandbox import jssdk, site
from integrations.wecom_sandbox.endpoints.auth import issue_oauth_code
from integrations.wecom_sandbox.html import e, frame, when
from integrations.wecom_sandbox.state import one, rows

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

COOKIE = "wecom_sandbox_chat"
CHAT_SECONDS = 12 * 3600  # how long an opened chat stays the browser's current chat
CUSTOMERS_PER_MEMBER = 50  # the most recently added customers of each member, in the form
MESSAGES_SHOWN = 30
JSON = {"Content-Type": "application/json; charset=UTF-8"}


def handles(path: str) -> bool:
    return path.startswith(("/jssdk/", "/sandbox/chat/")) or path == "/connect/oauth2/authorize"


def handle(app: "SandboxApp", method: str, path: str, query: dict, raw: bytes, headers) -> tuple[int, dict, bytes]:
    chat_id = _cookie(headers)
    if path == "/connect/oauth2/authorize":
        return _silent_oauth(app, query, chat_id) or site.authorize(app, query)
    if path == "/sandbox/chat/open" and method == "POST":
        return _open_chat(app, raw)
    if path == "/jssdk/jwxwork.js":
        return (
            200,
            {"Content-Type": "application/javascript; charset=utf-8", "Cache-Control": "no-store"},
            (jssdk.script(app)),
        )
    cors = _cors(app, headers)
    if path in ("/jssdk/api/agent_config", "/jssdk/api/invoke") and method == "POST":
        body = _json(raw)
        answer = jssdk.agent_config(app, body, chat_id) if path.endswith("agent_config") else jssdk.invoke(app, body)
        return 200, JSON | cors, json.dumps(answer, ensure_ascii=False).encode()
    return 404, JSON | cors, b'{"error": "no such JS-SDK call"}'


def _json(raw: bytes) -> dict:
    try:
        body = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _cookie(headers) -> str:
    jar = SimpleCookie()
    try:
        jar.load(headers.get("Cookie", "") if headers else "")
    except Exception:  # noqa: BLE001 - a malformed Cookie header from a browser is just no cookie
        return ""
    return jar[COOKIE].value if COOKIE in jar else ""


def _cors(app: "SandboxApp", headers) -> dict:
    """The sidebar page's origin may read the answers, with the cookie (WeCom's trusted domain, in effect)."""
    requested = (headers.get("Origin", "") if headers else "").lower()
    if requested and requested == jssdk.origin(app.settings.sidebar_url):
        return {"Access-Control-Allow-Origin": requested, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}
    return {"Vary": "Origin"}


def current_chat(app: "SandboxApp", chat_id: str):
    if not chat_id:
        return None
    with app.store.tx() as db:
        return one(
            db,
            "SELECT c.* FROM chat_context c JOIN member m ON m.userid = c.userid"
            " WHERE c.id = ? AND c.opened > ? AND m.status = 1",
            (chat_id, app.now() - CHAT_SECONDS),
        )


def _silent_oauth(app: "SandboxApp", query: dict, chat_id: str):
    chat = current_chat(app, chat_id)
    redirect_uri = query.get("redirect_uri", "")
    if chat is None or query.get("appid") != app.identity.corp_id:
        return None
    if not redirect_uri.startswith(app.settings.sidebar_url):
        return None  # another page of the app: the person picks, as before
    with app.store.tx() as db:
        code = issue_oauth_code(db, chat["userid"], app.now())
    parts = urlsplit(redirect_uri)
    extra = urlencode({"code": code, "state": query.get("state", "")})
    return 302, {"Location": urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))}, b""


def _open_chat(app: "SandboxApp", raw: bytes):
    form = {key: values[0] for key, values in parse_qs(raw.decode("utf-8", "replace")).items()}
    userid, external_userid = form.get("userid", ""), form.get("external_userid", "")
    with app.store.tx() as db:
        follows = one(
            db,
            "SELECT 1 FROM follow f JOIN member m ON m.userid = f.userid"
            " WHERE f.userid = ? AND f.external_userid = ? AND m.status = 1",
            (userid, external_userid),
        )
        if follows is None:
            message = "这位成员不是这位客户的好友，不能打开与其的聊天。"
            page = frame("企业微信沙箱", f'<section><h2>出错了</h2><p class="bad">{e(message)}</p></section>')
            return 400, {"Content-Type": "text/html; charset=utf-8"}, page
        chat_id = secrets.token_urlsafe(18)
        db.execute(
            "INSERT INTO chat_context (id, userid, external_userid, opened) VALUES (?, ?, ?, ?)",
            (chat_id, userid, external_userid, app.now()),
        )
    cookie = f"{COOKIE}={chat_id}; Path=/; Max-Age={CHAT_SECONDS}; HttpOnly; SameSite=Lax"
    return 303, {"Location": app.settings.sidebar_url, "Set-Cookie": cookie}, b""


# --- the sandbox page -----------------------------------------------------------------------------------------


def section(app: "SandboxApp") -> str:
    """The dashboard's 「打开聊天工具栏」 form and what members sent into chats from the sidebar."""
    with app.store.tx() as db:
        members = rows(
            db,
            "SELECT DISTINCT m.userid, m.name FROM member m JOIN follow f ON f.userid = m.userid"
            " WHERE m.status = 1 ORDER BY m.userid",
        )
        customers = rows(
            db,
            "SELECT userid, external_userid, name FROM (SELECT f.userid, f.external_userid, c.name,"
            " ROW_NUMBER() OVER (PARTITION BY f.userid ORDER BY f.createtime DESC) AS rank"
            " FROM follow f JOIN contact c ON c.external_userid = f.external_userid) WHERE rank <= ?"
            " ORDER BY userid, name",
            (CUSTOMERS_PER_MEMBER,),
        )
        sent = jssdk.chat_messages(db, MESSAGES_SHOWN)
    member_options = "".join(f'<option value="{e(m["userid"])}">{e(m["name"])}（{e(m["userid"])}）</option>'
                             for m in members)  # fmt: skip
    customer_options = "".join(
        f'<option value="{e(c["external_userid"])}" data-member="{e(c["userid"])}">{e(c["name"])}</option>'
        for c in customers
    )
    only_theirs = (
        "const m=this.form.userid.value;const s=this.form.external_userid;let first=null;"
        "for(const o of s.options){o.hidden=o.dataset.member!==m;o.disabled=o.hidden;if(!o.hidden&&!first)first=o;}"
        "if(first)first.selected=true;"  # not s.value: a customer of two members has two options with one value
    )
    form = (
        '<form method="post" action="/sandbox/chat/open" target="wecom-sidebar" data-testid="open-sidebar"'
        " onsubmit=\"window.open('about:blank','wecom-sidebar','popup,width=390,height=844')\">"
        f'<label>成员 <select name="userid" onchange="{only_theirs}">{member_options}</select></label> '
        f'<label>正在聊天的客户 <select name="external_userid">{customer_options}</select></label> '
        "<button>打开聊天工具栏</button></form>"
        f"<script>document.querySelector('[data-testid=\"open-sidebar\"] select[name=userid]')"
        ".dispatchEvent(new Event('change'));</script>"
    )
    if not members:
        form = '<div class="empty">还没有成员有客户：先让客户添加成员。</div>'
    return (
        "<section><h2>打开聊天工具栏</h2><p class=hint>扮演一位成员：在企业微信里打开与一位客户的单聊，再打开应用的"
        f"聊天工具栏（控制台配置的页面 <code>{e(app.settings.sidebar_url)}</code>）。侧边栏经网页授权静默识别成员，"
        "JS-SDK（<code>/jssdk/jwxwork.js</code>）告诉它正在与哪位客户聊天。</p>"
        f"{form}<h3>聊天工具栏发出的消息（客户收到的消息）</h3>{_sent_table(sent)}</section>"
    )


def _sent_table(sent: list[dict]) -> str:
    if not sent:
        return '<div class="empty">还没有从聊天工具栏发出的消息。</div>'
    body = "".join(
        f"<tr><td>{when(m['sent_at'])}</td><td>{e(m['member_name'] or m['userid'])}</td>"
        f"<td>{e(m['customer_name'] or '')} <code>{e(m['external_userid'])}</code></td>"
        f'<td><div class="bubble">{e(_shown(m))}</div></td></tr>'
        for m in sent
    )
    return f"<table><tr><th>时间</th><th>成员</th><th>客户</th><th>消息</th></tr>{body}</table>"


def _shown(message: dict) -> str:
    body = message["body"]
    kind = message["msgtype"]
    part = body.get(kind) or {}
    if kind == "text":
        return part.get("content", "")
    if kind == "news":
        return f"[链接] {part.get('title', '')} {part.get('link', '')}"
    return f"[{kind}] {part.get('mediaid') or part.get('title') or ''}"
