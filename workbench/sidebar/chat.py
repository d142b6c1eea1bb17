"""Content as the WeCom JS-SDK's `sendChatMessage` calls: one call per part, text first.

`message_for` (the content app) gives the body WeCom's server APIs take: `{"text": {"content"}, "attachments":
[{"msgtype": "link", "link": {...}}, …]}`. The JS-SDK sends one message per call, with its own field names:
text {content}; image, video and file {mediaid}; news {link, title, desc, imgUrl} for a link. A mini-program needs
an image URL the server API does not give, so content with one is refused here (mass sends carry it).
"""

from django.utils.translation import gettext as _

from campaigns.content.services import ContentError

LABELS = {"image": "图片", "video": "视频", "file": "文件", "news": "链接"}


def chat_messages(message: dict) -> tuple[list[dict], str]:
    """(the sendChatMessage parameter objects, the text a 1:1 record keeps)."""
    calls, summary = [], []
    content = (message.get("text") or {}).get("content", "")
    if content:
        calls.append({"msgtype": "text", "text": {"content": content}})
        summary.append(content)
    for attachment in message.get("attachments", []):
        kind = attachment["msgtype"]
        body = attachment[kind]
        if kind in ("image", "video", "file"):
            calls.append({"msgtype": kind, kind: {"mediaid": body["media_id"]}})
            summary.append(f"[{LABELS[kind]}]")
        elif kind == "link":
            news = {"link": body["url"], "title": body["title"], "desc": body.get("desc", "")}
            news["imgUrl"] = body.get("picurl", "")
            calls.append({"msgtype": "news", "news": news})
            summary.append(f"[{LABELS['news']}] {body['title']} {body['url']}")
        else:
            raise ContentError(_("Content with a mini-program cannot be sent from the sidebar."))
    return calls, "\n".join(summary)
