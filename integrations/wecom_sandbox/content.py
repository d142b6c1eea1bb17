"""Message content shared by mass messages and welcome messages: text ≤4000 bytes, ≤9 attachments."""

from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.state import one

TEXT_MAX_BYTES = 4000
ATTACHMENTS_MAX = 9
MEDIA_SECONDS = 3 * 24 * 3600  # a temporary media_id is valid for three days

# attachment type → the fields it needs (media ids are checked against uploaded media)
_REQUIRED = {
    "image": (),
    "link": ("title", "url"),
    "miniprogram": ("title", "pic_media_id", "appid", "page"),
    "video": ("media_id",),
    "file": ("media_id",),
}


def check_media(db, media_id: str, now: int) -> None:
    row = one(db, "SELECT created_at FROM media WHERE media_id = ? AND via = 'upload'", (media_id,))
    if row is None or row["created_at"] + MEDIA_SECONDS < now:
        raise ApiError(40007, f"unknown or expired media_id {media_id[:16]}…")


def check_content(db, body: dict, now: int) -> tuple[str, list]:
    """(text content, attachments) of a message body, or the errcode WeCom answers for it."""
    text = body.get("text") or {}
    if not isinstance(text, dict):
        raise ApiError(40058, "text must be an object {content}")
    content = text.get("content") or ""
    if not isinstance(content, str):
        raise ApiError(40058, "text.content must be a string")
    if len(content.encode("utf-8")) > TEXT_MAX_BYTES:
        raise ApiError(45002, f"text.content exceeds {TEXT_MAX_BYTES} bytes")
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list):
        raise ApiError(40058, "attachments must be a list")
    if len(attachments) > ATTACHMENTS_MAX:
        raise ApiError(41064, f"at most {ATTACHMENTS_MAX} attachments")
    for attachment in attachments:
        kind = attachment.get("msgtype") if isinstance(attachment, dict) else None
        if kind not in _REQUIRED or not isinstance(attachment.get(kind), dict):
            raise ApiError(41065, f"attachment type {kind!r}")
        detail = attachment[kind]
        missing = [name for name in _REQUIRED[kind] if not detail.get(name)]
        if kind == "image" and not (detail.get("media_id") or detail.get("pic_url")):
            missing.append("media_id or pic_url")
        if missing:
            raise ApiError(40063, f"{kind} needs {', '.join(missing)}")
        for key in ("media_id", "pic_media_id"):
            if detail.get(key):
                check_media(db, detail[key], now)
    if not content and not attachments:
        raise ApiError(40063, "text or attachments is required")
    return content, attachments
