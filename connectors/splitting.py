"""Splits a long text into parts that each fit a platform's limit, measured in the platform's own
unit, so a long answer goes out as several messages instead of being cut.

A part ends at the last paragraph break that fits, else a line break, else a sentence end
(。！？；… . ! ? ; followed by closing quotes or brackets), else whitespace, else between two
characters that do not belong to one grapheme (a surrogate pair, an emoji sequence with ZWJ,
skin tone, variation selector or keycap, a flag, a letter with combining marks stay whole).
Structural breaks (paragraph, line, sentence) count only in the second half of the room a part
has, so no part is needlessly short.

What is kept: the whitespace at break points is dropped, and so is the text's leading and
trailing whitespace; nothing else. Precisely, for parts p1..pn of text t there are whitespace
strings w0..wn with t == w0 + p1 + w1 + p2 + ... + pn + wn; no part is empty, starts or ends with
whitespace, or measures more than the limit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

Measure = Callable[[str], int]


def utf16_units(text: str) -> int:
    """Telegram's unit: UTF-16 code units (a character beyond the BMP counts 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf8_bytes(text: str) -> int:
    """WeChat's unit for text content: bytes of UTF-8."""
    return len(text.encode("utf-8", "surrogatepass"))


def _char_cost(unit: Measure) -> Callable[[str], int]:
    if unit is utf16_units:
        return lambda ch: 2 if ord(ch) > 0xFFFF else 1
    if unit is utf8_bytes:
        return lambda ch: len(ch.encode("utf-8", "surrogatepass"))
    return unit


_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_LINE = re.compile(r"\n\s*")
# A sentence end: CJK marks end a sentence by themselves; Latin ones when whitespace follows.
_CLOSERS = "\"'”’」』）)】》〉]"
_SENTENCE = re.compile(
    rf"[。！？；…!?]+[{re.escape(_CLOSERS)}]*\s*|[.!?;:]+[{re.escape(_CLOSERS)}]*\s+"
)
_SPACE = re.compile(r"\s+")

ZWJ = "\u200d"


def _extends(ch: str) -> bool:
    """Whether `ch` belongs to the grapheme before it (never starts a part)."""
    o = ord(ch)
    return (
        ch == ZWJ
        or 0xFE00 <= o <= 0xFE0F  # variation selectors (emoji presentation, FE0F)
        or 0xE0100 <= o <= 0xE01EF
        or 0x1F3FB <= o <= 0x1F3FF  # skin tones
        or 0xE0020 <= o <= 0xE007F  # tag characters (subdivision flags)
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")  # combining marks, keycap U+20E3
    )


def _pictographic(ch: str) -> bool:
    """Roughly Unicode's Extended_Pictographic: what a ZWJ joins into one emoji."""
    o = ord(ch)
    return 0x1F000 <= o <= 0x1FAFF or 0x2190 <= o <= 0x2BFF or o in (0x00A9, 0x00AE, 0x3030)


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def grapheme_boundary(text: str, i: int) -> bool:
    """Whether a part may end before text[i] without splitting a grapheme (simplified
    Unicode UAX #29: enough for emoji sequences, flags and combining marks)."""
    if i <= 0 or i >= len(text):
        return True
    before, after = text[i - 1], text[i]
    if _extends(after) or (before == ZWJ and _pictographic(after)):
        return False
    if before == "\r" and after == "\n":
        return False
    if _regional(before) and _regional(after):
        run = 0
        j = i - 1
        while j >= 0 and _regional(text[j]):
            run += 1
            j -= 1
        return run % 2 == 0  # flags are pairs: break only between pairs
    return True


def split_text(text: str, limit: int, unit: Measure = len) -> list[str]:
    """The parts of `text`, in order, each measuring at most `limit` in `unit` (see the module
    docstring for what is kept). An empty or all-whitespace text has no parts."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    cost = _char_cost(unit)
    parts: list[str] = []
    n = len(text)
    start = _skip_space(text, 0)
    while start < n:
        # How far a part from `start` may reach: text[start:end] fits.
        used, end = 0, start
        while end < n:
            c = cost(text[end])
            if used + c > limit:
                break
            used += c
            end += 1
        if end == start:
            raise ValueError(f"{text[start]!r} alone measures more than the limit {limit}")
        if end >= n:
            parts.append(text[start:].rstrip())
            break
        cut = _cut(text, start, end)
        parts.append(text[start:cut].rstrip())
        start = _skip_space(text, cut)
    return parts


def _skip_space(text: str, i: int) -> int:
    m = _SPACE.match(text, i)
    return m.end() if m else i


def _cut(text: str, start: int, end: int) -> int:
    """Where the part text[start:end+...] ends: an index in (start, end]. The break's own
    whitespace may lie beyond `end` (it is dropped, not sent)."""
    window = text[start:end]
    half = len(window) // 2
    for pattern in (_PARAGRAPH, _LINE, _SENTENCE):
        best = _last_break(pattern, text, start, end, start + half)
        if best is not None:
            return best
    best = _last_break(_SPACE, text, start, end, start + 1)
    if best is not None:
        return best
    # No whitespace: between two characters, never inside a grapheme.
    for i in range(end, start, -1):
        if grapheme_boundary(text, i):
            return i
    # One grapheme longer than the limit: cut between code points (never reached in practice;
    # a Python str holds no half surrogate pairs).
    return end


def _last_break(pattern: re.Pattern[str], text: str, start: int, end: int, lo: int) -> int | None:
    """The end of the last text before the break: the break starts in [lo, end] and what it
    keeps (a sentence's mark) ends by `end`."""
    found = None
    for m in pattern.finditer(text, start, min(len(text), end + 1)):
        keep_end = m.start() + len(m.group().rstrip())
        if keep_end <= start:
            continue
        if keep_end > end:
            break
        if keep_end >= lo:
            found = keep_end
    if found is not None and not grapheme_boundary(text, found):
        return None
    return found
