"""Every non-API page: the dashboard, web OAuth's member picker, 「联系我」 codes to "scan", uploaded media.

WeCom's OAuth page lives at https://open.weixin.qq.com/connect/oauth2/authorize; the sandbox serves the same
path: a person picks who they are — a member, a customer (an external contact opening a link in WeChat) or a
WeChat user who is neither — and is sent back to redirect_uri with `code` and `state`.
"""

import io
import json
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import segno

from integrations.wecom_sandbox import contact_page, pages
from integrations.wecom_sandbox.endpoints.auth import issue_oauth_code, issue_visitor_code
from integrations.wecom_sandbox.errors import ControlError
from integrations.wecom_sandbox.events import apply_event
from integrations.wecom_sandbox.html import e, frame
from integrations.wecom_sandbox.state import one, rows

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

HTML = {"Content-Type": "text/html; charset=utf-8"}
VISITORS_SHOWN = 60


def _redirect(location: str, status: int = 303):
    return status, {"Location": location}, b""


def _form(raw: bytes) -> dict:
    return {key: values[0] for key, values in parse_qs(raw.decode("utf-8", "replace")).items()}


def _error(status: int, message: str):
    return status, HTML, frame("企业微信沙箱", f'<section><h2>出错了</h2><p class="bad">{e(message)}</p></section>')


def handle_page(app: "SandboxApp", method: str, path: str, query: dict, raw: bytes):
    if path in ("", "/"):
        return _redirect("/sandbox/", 302)
    if path in ("/sandbox", "/sandbox/") and method == "GET":
        return 200, HTML, pages.dashboard(app)
    if match := re.fullmatch(r"/sandbox/groupmsg/([^/]+)/confirm", path):
        if method == "POST":
            pages.confirm_from_page(app, match.group(1), _form(raw).get("userid", ""))
        return _redirect("/sandbox/")
    if path == "/sandbox/contacts" and method == "GET":
        return 200, HTML, contact_page.contacts_page(app, query.get("q", ""))
    if path == "/connect/oauth2/authorize":
        return authorize(app, query)
    if path == "/connect/oauth2/authorize/pick":
        return pick(app, query)
    if match := re.fullmatch(r"/sandbox/contact_way/([0-9a-f]+)/qr\.png", path):
        return contact_way_qr(app, match.group(1))
    if match := re.fullmatch(r"/sandbox/contact_way/([0-9a-f]+)(/scan)?", path):
        return contact_way(app, match.group(1), scan=bool(match.group(2)) and method == "POST")
    if match := re.fullmatch(r"/sandbox/media/([\w-]+)", path):
        with app.store.tx() as db:
            row = one(db, "SELECT content_type, data FROM media WHERE media_id = ?", (match.group(1),))
        if row is None:
            return _error(404, "没有这个素材")
        return 200, {"Content-Type": row["content_type"] or "application/octet-stream"}, bytes(row["data"])
    return _error(404, f"沙箱没有这个页面：{path}")


def authorize(app: "SandboxApp", query: dict):
    if query.get("appid") != app.identity.corp_id:
        return _error(400, f"appid 应为企业的 CorpID（{app.identity.corp_id}），收到的是 {query.get('appid')!r}")
    redirect_uri = query.get("redirect_uri", "")
    if not redirect_uri.startswith(("http://", "https://")):
        return _error(400, "缺少 redirect_uri，或它不是 http(s) 地址")
    with app.store.tx() as db:
        departments = {row["id"]: row["name"] for row in rows(db, "SELECT id, name FROM department")}
        members = rows(
            db, "SELECT userid, name, position, main_department FROM member WHERE status = 1 ORDER BY userid"
        )
        customers = rows(
            db,
            "SELECT c.external_userid, c.name, MAX(f.createtime) AS added FROM contact c"
            " JOIN follow f ON f.external_userid = c.external_userid GROUP BY c.external_userid"
            " ORDER BY added DESC, c.external_userid LIMIT ?",
            (VISITORS_SHOWN,),
        )
    pick = "/connect/oauth2/authorize/pick?"
    visitors = "".join(
        f'<a class="person" href="{pick}{urlencode(query | {"external_userid": c["external_userid"]})}">'
        f"<b>{e(c['name'])}</b><small>{e(c['external_userid'])}</small></a>"
        for c in customers
    )
    anyone = urlencode(query | {"visitor": "wechat"})
    visitors += f'<a class="person" href="{pick}{anyone}"><b>微信用户</b><small>不是企业的客户</small></a>'
    cards = "".join(
        f'<a class="person" href="/connect/oauth2/authorize/pick?{urlencode(query | {"userid": m["userid"]})}">'
        f"<b>{e(m['name'])}</b><small>{e(m['userid'])} · {e(departments.get(m['main_department'], ''))}"
        f"{' · ' + e(m['position']) if m['position'] else ''}</small></a>"
        for m in members
    )
    body = (
        "<section><h2>以哪位成员的身份登录？</h2>"
        f'<p class="hint">应用请求网页授权（scope={e(query.get("scope", "snsapi_base"))}）。选择成员后跳转回 '
        f"<code>{e(redirect_uri)}</code>，并带上 code 与 state。</p>"
        '<input class="filter" placeholder="按姓名或账号筛选" oninput="for (const a of document.querySelectorAll'
        "('.person')) a.style.display = a.textContent.includes(this.value) ? '' : 'none'\">"
        f'<div class="grid">{cards or "<div class=empty>企业还没有在职成员。</div>"}</div>'
        f"<h2>或以微信用户（客户）的身份打开</h2><p class=hint>客户在微信里打开链接时，getuserinfo 返回 openid 与"
        f" external_userid（最近添加的 {VISITORS_SHOWN} 位客户）。</p>"
        f'<div class="grid">{visitors}</div></section>'
    )
    return 200, HTML, frame("企业微信授权登录（沙箱）", body)


def pick(app: "SandboxApp", query: dict):
    if query.get("appid") != app.identity.corp_id or not query.get("redirect_uri", "").startswith(
        ("http://", "https://")
    ):
        return _error(400, "授权参数不完整")
    with app.store.tx() as db:
        if query.get("external_userid") or query.get("visitor"):
            external_userid = query.get("external_userid", "")
            known = one(db, "SELECT 1 FROM contact WHERE external_userid = ?", (external_userid,))
            if external_userid and known is None:
                return _error(400, "没有这位客户")
            code = issue_visitor_code(db, app.identity.corp_id, external_userid, app.now())
        elif one(db, "SELECT 1 FROM member WHERE userid = ? AND status = 1", (query.get("userid", ""),)) is None:
            return _error(400, "没有这位在职成员")
        else:
            code = issue_oauth_code(db, query["userid"], app.now())
    parts = urlsplit(query["redirect_uri"])
    extra = urlencode({"code": code, "state": query.get("state", "")})
    return _redirect(urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra)), 302)


def contact_way_qr(app: "SandboxApp", config_id: str):
    """The code's QR image: scanning it with a phone opens the sandbox's page where a "customer" adds the member."""
    with app.store.tx() as db:
        if one(db, "SELECT 1 FROM contact_way WHERE config_id = ?", (config_id,)) is None:
            return _error(404, "没有这个「联系我」配置")
    image = io.BytesIO()
    segno.make(f"{app.public_url}/sandbox/contact_way/{config_id}", error="m").save(image, kind="png", scale=8)
    return 200, {"Content-Type": "image/png", "Cache-Control": "max-age=3600"}, image.getvalue()


def contact_way(app: "SandboxApp", config_id: str, *, scan: bool):
    with app.store.tx() as db:
        row = one(db, "SELECT body FROM contact_way WHERE config_id = ?", (config_id,))
    if row is None:
        return _error(404, "没有这个「联系我」配置")
    config = json.loads(row["body"])
    if scan:
        users = config.get("user") or []
        spec = {"change_type": "add_external_contact", "state": config.get("state", "")}
        with app.store.tx() as db:
            if users:
                spec["userid"] = app.rng.choice(users)
            else:
                member = one(db, "SELECT userid FROM member WHERE status = 1 ORDER BY RANDOM() LIMIT 1")
                spec["userid"] = member["userid"] if member else ""
            try:
                fields = apply_event(app, db, spec, app.now())
            except ControlError as error:
                return _error(400, str(error))
        app.callbacks.deliver(fields)
        return _redirect("/sandbox/")
    body = (
        f"<section><h2>「联系我」二维码</h2><p class=hint>备注：{e(config.get('remark')) or '—'} · "
        f"state：<code>{e(config.get('state')) or '—'}</code> · 成员：{e('、'.join(config.get('user') or []))}</p>"
        f'<p><img src="/sandbox/contact_way/{e(config_id)}/qr.png" alt="二维码" width="180" height="180"></p>'
        f'<form method="post" action="/sandbox/contact_way/{e(config_id)}/scan">'
        "<button>模拟一位新客户扫码添加</button></form></section>"
    )
    return 200, HTML, frame("企业微信沙箱", body)
