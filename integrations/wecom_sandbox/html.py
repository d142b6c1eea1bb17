"""The small HTML kit of the sandbox's pages: one stylesheet, a page frame, escaping and time formatting."""

from datetime import datetime
from html import escape

from integrations.wecom_sandbox.dispatch import CHINA

CSS = """
:root { --ink:#1f2329; --muted:#646a73; --line:#e4e6eb; --bg:#f5f6f7; --card:#fff; --brand:#0f7b5f;
        --ok:#0f7b5f; --warn:#b26a00; --bad:#c0392b; --info:#2f6fdf; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink); font:14px/1.6 "Noto Sans CJK SC","PingFang SC",
       "Microsoft YaHei",system-ui,sans-serif; }
header { background:var(--brand); color:#fff; padding:14px 28px; display:flex; align-items:baseline; gap:18px;
         flex-wrap:wrap; }
header h1 { font-size:18px; margin:0; font-weight:600; }
header .meta { opacity:.85; font-size:13px; }
header a, header code { color:#fff; }
main { max-width:1180px; margin:0 auto; padding:20px 28px 48px; }
.stats { display:flex; flex-wrap:wrap; gap:10px; margin-bottom:18px; }
.stat { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:8px 14px; min-width:96px; }
.stat b { display:block; font-size:20px; }
.stat span { color:var(--muted); font-size:12px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:16px 20px;
          margin-bottom:18px; }
section h2 { font-size:16px; margin:0 0 4px; }
section > p.hint { color:var(--muted); margin:0 0 12px; font-size:13px; }
table { width:100%; border-collapse:collapse; font-size:13px; }
th, td { text-align:left; padding:7px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:500; background:#fafbfc; }
.msg { border:1px solid var(--line); border-radius:8px; padding:12px 14px; margin:10px 0; }
.msg .head { display:flex; flex-wrap:wrap; gap:12px; align-items:center; color:var(--muted); font-size:12px; }
.bubble { background:#eaf6f1; border-radius:8px; padding:8px 12px; margin:8px 0; white-space:pre-wrap;
          max-width:680px; }
.badge { display:inline-block; border-radius:10px; padding:0 8px; font-size:12px; line-height:20px;
         border:1px solid currentColor; white-space:nowrap; }
.ok { color:var(--ok); } .warn { color:var(--warn); } .bad { color:var(--bad); } .info { color:var(--info); }
.muted { color:var(--muted); }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size:12px; color:#4e5969; }
button, .button { background:var(--brand); color:#fff; border:0; border-radius:6px; padding:5px 14px;
                  font-size:13px; cursor:pointer; text-decoration:none; display:inline-block; }
button.secondary { background:#fff; color:var(--brand); border:1px solid var(--brand); }
form.inline { display:inline; margin:0; }
details summary { cursor:pointer; color:var(--info); font-size:13px; margin-top:4px; }
.empty { color:var(--muted); padding:8px 0; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(220px,1fr)); gap:10px; }
.person { display:block; border:1px solid var(--line); border-radius:8px; padding:10px 12px; color:var(--ink);
          text-decoration:none; background:#fff; }
.person:hover { border-color:var(--brand); }
.person small { color:var(--muted); display:block; }
input.filter { width:100%; max-width:360px; padding:6px 10px; border:1px solid var(--line); border-radius:6px;
               font-size:14px; margin-bottom:12px; }
"""


def e(value) -> str:
    return escape("" if value is None else str(value))


def when(at) -> str:
    if not at:
        return "—"
    return datetime.fromtimestamp(int(at), CHINA).strftime("%Y-%m-%d %H:%M:%S")


def badge(text: str, tone: str) -> str:
    return f'<span class="badge {tone}">{e(text)}</span>'


def frame(title: str, body: str, *, subtitle: str = "", refresh: int | None = None) -> bytes:
    meta_refresh = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta_refresh}<title>{e(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{e(title)}</h1><span class="meta">{subtitle}</span></header>'
        f"<main>{body}</main></body></html>"
    ).encode()
