"""「客户资料」: one customer as WeCom holds them — each member's follow with its remark, channel and corp tags.

What an operator would see on the customer's profile in the WeCom client; the demo checks tag sync here.
"""

from typing import TYPE_CHECKING

from integrations.wecom_sandbox.html import badge, e, frame, when
from integrations.wecom_sandbox.state import rows

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

MATCHES_SHOWN = 20


def search_form(query: str = "") -> str:
    return (
        '<form method="get" action="/sandbox/contacts" class="inline">'
        f'<input class="filter" name="q" value="{e(query)}" placeholder="客户姓名或 external_userid">'
        " <button>查看客户资料</button></form>"
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
