"""Uploads (DOC-90253 media/upload: temporary media_id valid 3 days; DOC-90256 media/uploadimg: a permanent URL).

The sandbox keeps the bytes, so the sandbox page can show what was sent; `/sandbox/media/<media_id>` serves them.
"""

from integrations.wecom_sandbox import ids
from integrations.wecom_sandbox.endpoints import Call, api, text
from integrations.wecom_sandbox.errors import ApiError
from integrations.wecom_sandbox.multipart import parse_multipart

MIN_BYTES = 5
# type → (largest size in bytes, errcode for a bad size)
_UPLOAD = {
    "image": (10 * 1024 * 1024, 40009),
    "voice": (2 * 1024 * 1024, 40006),
    "video": (10 * 1024 * 1024, 40011),
    "file": (20 * 1024 * 1024, 40006),
}
_IMG_MAX = 2 * 1024 * 1024


def _file(call: Call) -> dict:
    if not call.content_type.startswith("multipart/form-data"):
        raise ApiError(41005, "send the file as multipart/form-data")
    files = [part for part in parse_multipart(call.raw, call.content_type) if part["filename"] or part["data"]]
    if not files:
        raise ApiError(41005)
    return files[0]


def _store(call: Call, kind: str, upload: dict, via: str) -> str:
    media_id = ids.media_id()
    call.db.execute(
        "INSERT INTO media (media_id, type, filename, content_type, size, created_at, data, via)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            media_id,
            kind,
            upload["filename"],
            upload["content_type"],
            len(upload["data"]),
            call.now,
            upload["data"],
            via,
        ),
    )
    return media_id


@api("media/upload", "POST")
def media_upload(call: Call) -> dict:
    kind = text(call, "type")
    if kind not in _UPLOAD:
        raise ApiError(40004, "type is image, voice, video or file")
    upload = _file(call)
    largest, errcode = _UPLOAD[kind]
    if not MIN_BYTES < len(upload["data"]) <= largest:
        raise ApiError(errcode, f"a {kind} is {MIN_BYTES + 1} bytes to {largest // (1024 * 1024)} MB")
    media_id = _store(call, kind, upload, "upload")
    return {"type": kind, "media_id": media_id, "created_at": str(call.now)}


@api("media/uploadimg", "POST")
def media_uploadimg(call: Call) -> dict:
    upload = _file(call)
    if not MIN_BYTES < len(upload["data"]) <= _IMG_MAX:
        raise ApiError(40009, "an image is at most 2 MB")
    if not upload["filename"].lower().endswith((".jpg", ".jpeg", ".png")):
        raise ApiError(40004, "only JPG and PNG images")
    media_id = _store(call, "image", upload, "uploadimg")
    return {"url": f"{call.app.public_url}/sandbox/media/{media_id}"}
