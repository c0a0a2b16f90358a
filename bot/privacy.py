"""Contact details taken out of stored customer text (`privacy.mask_transcripts`).

E-mail addresses become ``[email]`` and phone numbers ``[phone]``: mainland mobiles (with or
without +86, spaced 3-4-4 or with hyphens), numbers written with a + and a country code, mainland
landlines with an area code, and North American 3-3-4 numbers with separators. What customers
type next to them must survive, because agents and the analytics read it: order numbers (12
digits from 20...), ticket numbers (T-1001), amounts, dates and tracking codes are left alone. A
match never starts or ends inside a longer run of digits, and the bare-digit patterns need a
phone's exact shape, so no order number is ever cut into a "phone".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

EMAIL = "[email]"
PHONE = "[phone]"
# The NLU's entity types (nlu_data/entities.yml) whose values are contact details.
MASKED_ENTITIES = {"email": EMAIL, "phone_number": PHONE}

_PATTERN = re.compile(
    r"(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    r"|(?<!\d)(?P<phone>"
    # mainland mobile: 13800138000, 138 0013 8000, +86-138-0013-8000, (+86)13800138000
    r"(?:(?:\(?\+?86\)?|0086)[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}"
    # + country code, then groups of digits: +44 20 7946 0958, +1 (415) 555-2671
    r"|\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){1,5}"
    # mainland landline with its area code: 010-62345678, (0755) 8765 4321
    r"|\(?0\d{2,3}\)?[\s-]\d{3,4}[\s-]?\d{4}"
    # North American, separators required: (415) 555-2671, 415.555.2671
    r"|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}"
    r")(?!\d)"
)
_MIN_DIGITS, _MAX_DIGITS = 7, 15  # E.164 allows at most 15


@dataclass(frozen=True)
class Span:
    """One replacement: `text[start:end]` of the original became `token` at `new_start`."""

    start: int
    end: int
    token: str
    new_start: int


@dataclass(frozen=True)
class Masked:
    text: str
    spans: tuple[Span, ...]

    def position(self, pos: int, *, end: bool = False) -> int:
        """Where an offset in the original text lands in the masked one (an offset inside a
        replaced span lands on the token's start, or its end for an entity's `end`)."""
        shift = 0
        for span in self.spans:
            if pos >= span.end:
                shift += len(span.token) - (span.end - span.start)
            elif pos > span.start:
                return span.new_start + (len(span.token) if end else 0)
            else:
                break
        return pos + shift


def mask(text: str) -> Masked:
    """`text` with every e-mail address and phone number replaced, and where."""
    parts: list[str] = []
    spans: list[Span] = []
    last = length = 0
    for m in _PATTERN.finditer(text):
        if m.group("email") is not None:
            token = EMAIL
        else:
            digits = sum(c.isdigit() for c in m.group(0))
            if not _MIN_DIGITS <= digits <= _MAX_DIGITS:
                continue
            token = PHONE
        parts.append(text[last : m.start()])
        length += m.start() - last
        spans.append(Span(m.start(), m.end(), token, length))
        parts.append(token)
        length += len(token)
        last = m.end()
    if not spans:
        return Masked(text, ())
    parts.append(text[last:])
    return Masked("".join(parts), tuple(spans))


def mask_text(text: str) -> str:
    return mask(text).text


def mask_parse(parse: dict[str, Any]) -> dict[str, Any]:
    """A stored parse to match the masked text: its `text` masked, the values of contact-detail
    entities (and of any entity overlapping a masked span) replaced, offsets moved."""
    text = parse.get("text")
    if not isinstance(text, str):
        return parse
    masked = mask(text)
    entities = parse.get("entities") or []
    if not masked.spans and not any(
        isinstance(e, dict) and e.get("entity") in MASKED_ENTITIES for e in entities
    ):
        return parse
    out = dict(parse, text=masked.text)
    out["entities"] = [_masked_entity(e, masked) if isinstance(e, dict) else e for e in entities]
    return out


def _masked_entity(entity: dict[str, Any], masked: Masked) -> dict[str, Any]:
    start, end = entity.get("start"), entity.get("end")
    out = dict(entity)
    token = MASKED_ENTITIES.get(str(entity.get("entity")))
    if isinstance(start, int) and isinstance(end, int):
        overlapping = [s for s in masked.spans if s.start < end and start < s.end]
        if token is None and overlapping:
            token = overlapping[0].token
        out["start"], out["end"] = masked.position(start), masked.position(end, end=True)
    if token is not None:
        out["value"] = token
    return out
