"""「客户资料」: one customer as WeCom holds them — each member's follow with its remark, channel and corp tags.

What an operator would see on the customer's profile in the WeCom client; the demo checks tag sync here.
"""

import json
from typing import TYPE_CHECKING

from integrations.wecom_sandbox.html import badge, e, frame, when
from integrations.wecom_sandbox.state import rows

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

MATCHES_SHOWN = 20
WAYS_SHOWN = 30


def search_form(query: str = "") -> str:
    return (
        '<form method="get" action="/sandbox/contacts" class="inline">'
        f'<input class="filter" name="q" value="{e(query)}" placeholder="客户姓名或 external_userid">'
        " <button>查看客户资料</button></form>"
    )


def contact_ways_section(app: "SandboxApp") -> str:
    """The 「联系我」 codes the workbench made, each with the page a person opens to "scan" it as a new customer."""
    with app.store.tx() as db:
        ways = rows(db, "SELECT config_id, body FROM contact_way ORDER BY create_time DESC LIMIT ?", (WAYS_SHOWN,))
    if not ways:
        return ""
    lines = []
    for way in ways:
        config = json.loads(way["body"])
        lines.append(
            f"<tr><td>{e(config.get('remark')) or '—'}</td><td><code>{e(config.get('state'))}</code></td>"
            f"<td>{e('、'.join(config.get('user') or []))}</td>"
            f'<td><a href="/sandbox/contact_way/{e(way["config_id"])}">扫码添加</a></td></tr>'
        )
    return (
        "<section><h2>「联系我」二维码</h2><p class=hint>工作台创建的渠道活码；打开“扫码添加”模拟一位新客户扫码。</p>"
        f"<table><tr><th>备注</th><th>state</th><th>成员</th><th></th></tr>{''.join(lines)}</table></section>"
    )


def _matches(db, query: str) -> list:
    return rows(
        db,
        "SELECT external_userid, name, gender, unionid FROM contact WHERE external_userid = ? OR name LIKE ?"
        " ORDER BY name, external_userid LIMIT ?",
        (query, f"%{query}%", MATCHES_SHOWN),
    )


def _follows(db, external_userid: str) -> str:
    follows = rows(
        db,
        "SELECT f.userid, m.name AS member, f.remark, f.description, f.createtime, f.state FROM follow f"
        " LEFT JOIN member m ON m.userid = f.userid WHERE f.external_userid = ? ORDER BY f.createtime",
        (external_userid,),
    )
    if not follows:
        return '<div class="empty">没有成员添加这位客户（或已互删）。</div>'
    tags = {}
    for row in rows(
        db,
        "SELECT ft.userid, g.name AS grp, t.name FROM follow_tag ft JOIN tag t ON t.id = ft.tag_id"
        " JOIN tag_group g ON g.group_id = t.group_id WHERE ft.external_userid = ? AND t.deleted = 0"
        " ORDER BY g.name, t.name",
        (external_userid,),
    ):
        tags.setdefault(row["userid"], []).append(f"{row['grp']} / {row['name']}")
    lines = "".join(
        f"<tr><td>{e(f['member'] or f['userid'])} <code>{e(f['userid'])}</code></td><td>{e(f['remark'])}"
        f"<div class=muted>{e(f['description'])}</div></td><td>{when(f['createtime'])}"
        f"<div class=muted>{e(f['state'])}</div></td>"
        f"<td>{' '.join(badge(tag, 'info') for tag in tags.get(f['userid'], [])) or '—'}</td></tr>"
        for f in follows
    )
    return (
        "<table><tr><th>成员</th><th>备注 / 描述</th><th>添加时间 / 渠道 state</th><th>企业标签</th></tr>"
        f"{lines}</table>"
    )


def contacts_page(app: "SandboxApp", query: str) -> bytes:
    query = query.strip()
    hint = "企业微信里这位客户的资料：每位成员的备注、来源和打上的企业标签。"
    body = [f"<section><h2>客户资料</h2><p class=hint>{hint}</p>{search_form(query)}</section>"]
    if query:
        with app.store.tx() as db:
            found = _matches(db, query)
            for contact in found:
                body.append(
                    f"<section><h2>{e(contact['name'])}</h2><p class=hint><code>{e(contact['external_userid'])}</code>"
                    f"{' · unionid <code>' + e(contact['unionid']) + '</code>' if contact['unionid'] else ''}</p>"
                    f"{_follows(db, contact['external_userid'])}</section>"
                )
        if not found:
            body.append(f'<section><div class="empty">没有找到“{e(query)}”。</div></section>')
    return frame("企业微信沙箱 · 客户资料", "".join(body), subtitle='<a href="/sandbox/">返回沙箱首页</a>')
