"""The finance sensitive-word check: which listed words a text contains, and where.

The comparison survives the usual evasions: full-width characters (１００％收益), letter case, and spaces,
zero-width characters or separators put between the characters of a word (保 本, 稳·赚). Every hit is a span of
the ORIGINAL text, so the editor can highlight exactly what the author wrote.
"""

import unicodedata
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Ignored between the characters of a word: whitespace, zero-width characters and decorative separators.
# Sentence punctuation is NOT ignored: "请确保。本产品…" must not read as 保本.
_SKIPPED = set(" \t\r\n\u00a0\u3000\u200b\u200c\u200d\u2060\ufeff·•・*＊_~～|'\"")


@dataclass(frozen=True)
class Hit:
    word: str
    start: int  # in the original text
    end: int


def _normalise(text: str) -> tuple[str, list[int]]:
    """(normalised text, for each of its characters the index of the original character it came from)."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text or ""):
        if char in _SKIPPED:
            continue
        for piece in unicodedata.normalize("NFKC", char).casefold():
            if piece in _SKIPPED or piece.isspace():
                continue
            chars.append(piece)
            origin.append(index)
    return "".join(chars), origin


def normalised_word(word: str) -> str:
    return _normalise(word)[0]


def find(text: str, words) -> list[Hit]:
    """Every occurrence of every word, left to right; overlapping hits are all reported."""
    haystack, origin = _normalise(text)
    hits = []
    for word in words:
        needle = normalised_word(word)
        if not needle:
            continue
        start = haystack.find(needle)
        while start != -1:
            end = start + len(needle) - 1
            hits.append(Hit(word, origin[start], origin[end] + 1))
            start = haystack.find(needle, start + 1)
    return sorted(hits, key=lambda hit: (hit.start, -hit.end))


def highlight(text: str, hits: list[Hit]) -> SafeString:
    """The text, HTML-escaped, with every hit wrapped in <mark class="sensitive">."""
    spans: list[list[int]] = []
    for hit in sorted(hits, key=lambda hit: hit.start):
        if spans and hit.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hit.end)
        else:
            spans.append([hit.start, hit.end])
    pieces, position = [], 0
    for start, end in spans:
        pieces.append(escape(text[position:start]))
        pieces.append(f'<mark class="sensitive">{escape(text[start:end])}</mark>')
        position = end
    pieces.append(escape(text[position:]))
    return mark_safe("".join(pieces))  # noqa: S308 - every piece of the text is escaped above


def words_of(hits: list[Hit]) -> list[str]:
    """The distinct words hit, in order of first appearance."""
    seen: list[str] = []
    for hit in hits:
        if hit.word not in seen:
            seen.append(hit.word)
    return seen
