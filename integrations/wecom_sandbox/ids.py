"""Identifiers shaped like WeCom's, and the opaque pagination cursors."""

import base64
import binascii
import json
import secrets
import string

from integrations.wecom_sandbox.errors import ApiError

_ALNUM = string.ascii_letters + string.digits
_ID_CHARS = _ALNUM + "-_"


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def external_userid() -> str:
    return "wm" + _random(_ID_CHARS, 30)


def unionid() -> str:
    return "o" + _random(_ID_CHARS, 27)


def access_token() -> str:
    return _random(_ID_CHARS, 128)


def ticket() -> str:
    return _random(_ALNUM, 86)


def tag_id() -> str:
    return "et" + _random(_ID_CHARS, 24)


def msgid() -> str:
    return "msg" + _random(_ID_CHARS, 27)


def welcome_code() -> str:
    return _random(_ALNUM, 43)


def config_id() -> str:
    return secrets.token_hex(16)


def media_id() -> str:
    return "3" + _random(_ID_CHARS, 63)


def oauth_code() -> str:
    return _random(_ALNUM, 43)


def nonce() -> str:
    return _random(string.digits, 10)


def make_cursor(kind: str, value) -> str:
    """An opaque cursor remembering where a page ended; tied to one API so another's cursor is rejected."""
    raw = json.dumps([kind, value], ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(kind: str, cursor) -> object:
    """The value a cursor carries, None for an empty cursor; 50100 for anything this API did not issue."""
    if cursor in (None, ""):
        return None
    if not isinstance(cursor, str):
        raise ApiError(50100)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ApiError(50100) from None
    if not (isinstance(decoded, list) and len(decoded) == 2 and decoded[0] == kind):
        raise ApiError(50100)
    return decoded[1]
