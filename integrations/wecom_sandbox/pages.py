"""The sandbox page at /sandbox/: what "the customers" and "the members" received, for a person trying the demo."""

import json
from typing import TYPE_CHECKING

from integrations.wecom_sandbox import client_side, contact_page, dispatch, received
from integrations.wecom_sandbox.html import badge, e, frame, when
from integrations.wecom_sandbox.state import rows

if TYPE_CHECKING:
    from integrations.wecom_sandbox.core import SandboxApp

RESULT_STATUS = {
    0: ("未发送", "muted"),
    1: ("已送达", "ok"),
    2: ("未送达：已非好友", "bad"),
    3: ("未送达：超出接收上限", "warn"),
}
OUTCOME = {
    "delivered": ("已送达", "ok"),
    "dropped": ("已丢弃：超出每成员频率", "bad"),
    "duplicate": ("重复消息，未下发", "warn"),
}
TRANSFER_STATUS = {
    1: ("接替完毕", "ok"),
    2: ("等待接替", "info"),
    3: ("客户拒绝", "bad"),
    4: ("接替成员客户已达上限", "bad"),
}
LIMIT = 30


def _attachments(items: list) -> str:
    if not items:
        return ""
    labels = {"image": "图片", "link": "链接", "miniprogram": "小程序", "video": "视频", "file": "文件"}
    parts = []
    for item in items:
        kind = item.get("msgtype", "")
        detail = item.get(kind, {}) if isinstance(item.get(kind), dict) else {}
        title = detail.get("title") or detail.get("media_id", "")[:12] or detail.get("pic_url", "")
        parts.append(f"{labels.get(kind, kind)}：{title}")
    return '<div class="muted">附件 ' + e("；".join(parts)) + "</div>"


def _groupmsg(message: dict, names: dict) -> str:
    tasks_html = []
    for task in message["tasks"]:
        sent = sum(1 for r in task["results"] if r["status"] == 1)
        if task["status"] == 2:
            state = badge(f"已发送 {when(task['send_time'])}", "ok")
            action = ""
        elif task["skipped"]:
            state = badge("已取消" if message["cancelled"] else "成员未发送", "muted")
            action = ""
        else:
            due = f"，预计 {when(task['confirm_due'])} 自动确认" if task["confirm_due"] else ""
            state = badge("待成员确认" + due, "info")
            action = (
                f'<form class="inline" method="post" action="/sandbox/groupmsg/{e(message["msgid"])}/confirm">'
                f'<input type="hidden" name="userid" value="{e(task["userid"])}"><button>代成员确认发送</button></form>'
            )
        results = "".join(
            f"<tr><td>{e(r['name'] or '')}</td><td><code>{e(r['external_userid'])}</code></td>"
            f"<td>{badge(*RESULT_STATUS[r['status']])}</td><td>{when(r['send_time'])}</td></tr>"
            for r in task["results"]
        )
        tasks_html.append(
            f"<tr><td>{e(names.get(task['userid'], ''))} <code>{e(task['userid'])}</code></td>"
            f"<td>{state} {action}</td><td>{sent} / {len(task['results'])} 位客户已送达"
            f"<details><summary>逐个客户</summary><table><tr><th>客户</th><th>external_userid</th><th>结果</th>"
            f"<th>送达时间</th></tr>{results}</table></details></td></tr>"
        )
    fail_count = len(message["fail_list"])
    fail = f'<div class="muted">无法发送（fail_list）：{fail_count} 位</div>' if fail_count else ""
    return (
        f'<div class="msg"><div class="head"><code>{e(message["msgid"])}</code>'
        f"<span>创建 {when(message['create_time'])}</span>{badge('已停止', 'muted') if message['cancelled'] else ''}"
        f"{'<span>已提醒 ' + str(len(message['reminds'])) + ' 次</span>' if message['reminds'] else ''}</div>"
        f'<div class="bubble">{e(message["text"].get("content", "")) or "<span class=muted>（无文字）</span>"}</div>'
        f"{_attachments(message['attachments'])}{fail}"
        f"<table><tr><th>发送成员</th><th>任务状态</th><th>客户收到</th></tr>{''.join(tasks_html)}</table></div>"
    )


def _app_message(message: dict, names: dict) -> str:
    content = message["content"]
    text = content.get("content") or "\n".join(filter(None, [content.get("title"), content.get("description")]))
    link = f'<div class="muted">链接：{e(content.get("url"))}</div>' if content.get("url") else ""
    people = "、".join(
        f"{e(names.get(d['userid'], d['userid']))} {badge(*OUTCOME[d['outcome']])}" for d in message["deliveries"]
    )
    invalid = f'<div class="bad">无效成员：{e(message["invaliduser"])}</div>' if message["invaliduser"] else ""
    return (
        f'<div class="msg"><div class="head"><span>{when(message["sent_at"])}</span>{badge(message["msgtype"], "info")}'
        f'</div><div class="bubble">{e(text) or e(json.dumps(content, ensure_ascii=False)[:300])}</div>{link}'
        f"<div>接收成员：{people}</div>{invalid}</div>"
    )


def dashboard(app: "SandboxApp") -> bytes:
    data = received.everything(app, limit=LIMIT)
    counts = app.store.counts(app.now())
    with app.store.tx() as db:
        names = {row[0]: row[1] for row in rows(db, "SELECT userid, name FROM member")}
        contacts = {row[0]: row[1] for row in rows(
            db, "SELECT c.external_userid, c.name FROM contact c WHERE c.external_userid IN"
            " (SELECT external_userid FROM welcome_message UNION SELECT external_userid FROM transfer"
            " UNION SELECT external_userid FROM callback)")}  # fmt: skip
    stats = [("部门", "departments"), ("成员", "members"), ("客户", "contacts"), ("好友关系", "follows"),
             ("企业标签", "tags"), ("联系我", "contact_ways"), ("待确认群发", "groupmsg_tasks_pending"),
             ("等待转接", "transfers_waiting")]  # fmt: skip
    body = (
        ['<div class="stats">']
        + [f'<div class="stat"><b>{counts[key]:,}</b><span>{label}</span></div>' for label, key in stats]
        + ["</div>", f"<section><h2>客户资料</h2>{contact_page.search_form()}</section>"]
        + [contact_page.contact_ways_section(app)]
    )
    body.append(client_side.section(app))
    groupmsgs = "".join(_groupmsg(m, names) for m in data["groupmsgs"]) or '<div class="empty">还没有群发任务。</div>'
    body.append(
        "<section><h2>企业群发（客户收到的消息）</h2><p class=hint>add_msg_template 创建的任务；成员确认后按每位客户的"
        f"接收上限（当前：{e(app.settings.quota_mode)}）发出。</p>{groupmsgs}</section>"
    )
    messages = "".join(_app_message(m, names) for m in data["app_messages"])
    messages = messages or '<div class="empty">还没有应用消息。</div>'
    body.append(f"<section><h2>应用消息（成员收到的提醒）</h2>{messages}</section>")
    welcome_rows = "".join(
        f"<tr><td>{when(w['sent_at'])}</td><td>{e(names.get(w['userid'], w['userid']))}</td>"
        f"<td>{e(contacts.get(w['external_userid'], ''))} <code>{e(w['external_userid'])}</code></td>"
        f'<td><div class="bubble">{e(w["text"].get("content", ""))}</div>{_attachments(w["attachments"])}</td></tr>'
        for w in data["welcome_messages"]
    )
    body.append(
        "<section><h2>欢迎语</h2>"
        + (f"<table><tr><th>时间</th><th>成员</th><th>客户</th><th>内容</th></tr>{welcome_rows}</table>"
           if welcome_rows else '<div class="empty">还没有欢迎语。</div>')
        + "</section>"
    )  # fmt: skip
    body.append(_callbacks(app, names, contacts))
    transfer_rows = "".join(
        f"<tr><td>{when(t['created'])}</td><td>{'在职' if t['kind'] == 'onjob' else '离职'}</td>"
        f"<td>{e(names.get(t['handover'], t['handover']))} → {e(names.get(t['takeover'], t['takeover']))}</td>"
        f"<td>{e(contacts.get(t['external_userid'], ''))} <code>{e(t['external_userid'])}</code></td>"
        f"<td>{badge(*TRANSFER_STATUS.get(t['status'], ('?', 'muted')))}</td>"
        f"<td>{when(t['takeover_time'] or (t['due'] if t['status'] == 2 else None))}</td></tr>"
        for t in data["transfers"]
    )
    if transfer_rows:
        body.append(
            "<section><h2>客户转接</h2><table><tr><th>发起</th><th>类型</th><th>成员</th><th>客户</th><th>状态</th>"
            f"<th>接替时间</th></tr>{transfer_rows}</table></section>"
        )
    subtitle = (
        f"企业 <code>{e(app.identity.corp_id)}</code> · 应用 {e(app.identity.agent_id)} · 沙箱时间 {when(app.now())}"
        ' · <a href="/sandbox/">刷新</a>'
    )
    return frame("企业微信沙箱", "".join(body), subtitle=subtitle)


def _callbacks(app: "SandboxApp", names: dict, contacts: dict) -> str:
    items = received.callbacks(app, limit=LIMIT)
    if not items:
        return '<section><h2>回调事件</h2><div class="empty">还没有回调。</div></section>'
    body = "".join(
        f"<tr><td>{when(c['created'])}</td><td><code>{e(c['event'])}</code><br>{e(c['change_type'])}</td>"
        f"<td>{e(names.get(c['userid'], c['userid']))}</td>"
        f"<td>{e(contacts.get(c['external_userid'], ''))} <code>{e(c['external_userid'])}</code></td>"
        f"<td>{badge('已送达', 'ok') if c['delivered'] else badge('未送达', 'bad')}"
        f"<div class=muted>{e(c['note']) or _attempts(c['attempts'])}</div></td></tr>"
        for c in items
    )
    return (
        "<section><h2>回调事件</h2><p class=hint>加密后 POST 到回调地址；5 秒内未答 200 则重试，共 3 次。</p>"
        f"<table><tr><th>时间</th><th>事件</th><th>成员</th><th>客户</th><th>投递</th></tr>{body}</table></section>"
    )


def _attempts(attempts: list) -> str:
    def outcome(attempt: dict) -> str:
        return f"HTTP {attempt['status']}" if attempt["status"] else attempt["error"].split(":")[0]

    return "；".join(f"第{a['attempt']}次 {outcome(a)}（{a['ms']} ms）" for a in attempts)


def confirm_from_page(app: "SandboxApp", msgid: str, userid: str) -> None:
    with app.store.tx() as db:
        pending = rows(
            db,
            "SELECT userid FROM groupmsg_task WHERE msgid = ? AND status = 0 AND skipped = 0"
            " AND (? = '' OR userid = ?)",
            (msgid, userid, userid),
        )
        for task in pending:
            dispatch.confirm_task(app, db, msgid, task["userid"], app.now())
