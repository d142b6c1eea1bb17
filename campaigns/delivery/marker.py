"""The send task's marker: 40 random bits written invisibly at the start of the message text.

WeCom's `add_msg_template` takes no idempotency key and answers with the msgid only. When that answer is lost
(a timeout, a worker killed after the call), the task may or may not exist in WeCom. Before calling again the
engine lists the mass messages created since the first call (`get_groupmsg_list_v2`) and looks for this marker
in their text; found, the msgid is adopted and nothing is created twice (docs/delivery.md).

The marker is 20 characters from a four-letter alphabet of zero-width characters between two invisible
separators: 66 bytes of the 4000 WeCom allows, nothing a customer sees. At the start of the text rather than the
end, so that WeChat never takes it for part of a link the text ends with.
"""

import re
import secrets

_ALPHABET = "\u200b\u200c\u2060\u2063"  # zero-width space, zero-width non-joiner, word joiner, invisible separator
_FENCE = "\u2062"  # invisible times
_DIGITS = 20  # 40 bits, two per character
_PATTERN = re.compile(f"{_FENCE}([{_ALPHABET}]{{{_DIGITS}}}){_FENCE}")
_INVISIBLE = re.compile(f"[{_ALPHABET}{_FENCE}]")
BYTES = len((_FENCE * 2 + _ALPHABET[0] * _DIGITS).encode())


def new() -> str:
    """A fresh marker: 10 hex digits (stored on the task, unique)."""
    return secrets.token_hex(5)


def encode(marker: str) -> str:
    value = int(marker, 16)
    digits = [_ALPHABET[(value >> (2 * index)) & 3] for index in range(_DIGITS)]
    return _FENCE + "".join(reversed(digits)) + _FENCE


def read(text: str) -> str | None:
    """The marker written into this text, if any."""
    match = _PATTERN.search(text or "")
    if match is None:
        return None
    value = 0
    for char in match.group(1):
        value = value * 4 + _ALPHABET.index(char)
    return f"{value:010x}"


def stamp(text: str, marker: str, *, max_bytes: int) -> str | None:
    """The text with the marker in front; None when the text is empty or the marker does not fit."""
    if not text:
        return None
    stamped = encode(marker) + text
    return stamped if len(stamped.encode()) <= max_bytes else None


def visible(text: str) -> str:
    """The text as a customer reads it: without any marker characters."""
    return _INVISIBLE.sub("", text or "")
