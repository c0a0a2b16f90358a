"""What kind of message the customer sent, before anything reads its words: text, a command, or
something that is not text at all (a sticker, a photo, a voice note, an emoji on its own).

The channels turn every message into text so that nothing is lost and agents see it in the
transcript: a photo without a caption arrives as "[photo]", with one as "[photo] the box was
crushed". This module owns that convention (`media_marker` writes it, `read_inbound` reads it), so
the bot can acknowledge what it cannot read instead of failing a turn over it, and can answer the
caption of a photo as the question it is.

It also reads an opt-out of proactive messages: the `/opt_out` button (or the command typed),
or a message that is nothing but an opt-out word ("退订", "STOP!"), on every channel alike.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Media kinds as the channels name them, and the group each is answered as.
MEDIA_KINDS: dict[str, str] = {
    "sticker": "sticker",
    "animation": "sticker",
    "photo": "image",
    "image": "image",
    "video": "image",
    "document": "file",
    "file": "file",
    "voice": "voice",
    "audio": "voice",
    "location": "location",
    "contact": "contact",
    "link": "file",
    "message": "other",
    "button": "other",
    "empty": "other",
}
_MARKER = re.compile(r"^\[([a-z]+)\](?:\s+(.*))?$", re.S)
# Commands every channel understands, and the words customers type for them.
COMMANDS: dict[str, str] = {
    "/start": "start",
    "/greet": "start",
    "/help": "help",
    "/human": "human",
    "/agent": "human",
    "/menu": "help",
}
COMMAND_WORDS: dict[str, str] = {
    "帮助": "help",
    "菜单": "help",
    "help": "help",
    "menu": "help",
    "人工": "human",
    "转人工": "human",
    "人工客服": "human",
    "开始": "start",
}
# Opting out of proactive messages (bot/proactive): the button every proactive message carries,
# and the words a customer types for it, by language (config `proactive.opt_out_words` replaces
# these). Only the whole message counts, so "stop the bot, give me a person" is no opt-out.
OPT_OUT_PAYLOAD = "/opt_out"
DEFAULT_OPT_OUT_WORDS: dict[str, tuple[str, ...]] = {
    "zh": ("退订", "取消订阅"),
    "en": ("stop", "unsubscribe"),
}
MAX_OPT_OUT_CHARS = 40  # longer than any opt-out word: a sentence, read by the NLU


@dataclass(frozen=True)
class Inbound:
    kind: str  # text | command | media
    text: str  # what the bot should read: the message, or a photo's caption ("" when none)
    media: str | None = None  # image | sticker | voice | file | location | contact | other
    command: str | None = None  # start | help | human | opt_out
    language: str | None = None  # an opt-out word's language (zh | en); None for the button


@dataclass(frozen=True)
class OptOutWords:
    """The opt-out words by their bare form (`bare_word`), each with its language."""

    languages: Mapping[str, str]

    @classmethod
    def of(cls, words: Mapping[str, Sequence[str]] | None = None) -> OptOutWords:
        """From `{language: [word, ...]}`; None: the defaults."""
        given = DEFAULT_OPT_OUT_WORDS if words is None else words
        return cls({bare_word(w): lang for lang, ws in given.items() for w in ws if bare_word(w)})

    def language(self, text: str) -> str | None:
        """The language of the opt-out word the whole message is; None when it is none."""
        if len(text) > MAX_OPT_OUT_CHARS:
            return None
        return self.languages.get(bare_word(text))


def bare_word(text: str) -> str:
    """A message as an opt-out word is compared: trimmed of spaces and punctuation at both ends,
    case-folded ("STOP!" and " stop。" are "stop")."""
    start, end = 0, len(text)
    while start < end and _edge(text[start]):
        start += 1
    while end > start and _edge(text[end - 1]):
        end -= 1
    return text[start:end].casefold()


def _edge(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch).startswith("P")


DEFAULT_OPT_OUTS = OptOutWords.of()


def media_marker(kind: str, caption: str = "") -> str:
    """How a channel writes a message that is not text, so the transcript keeps it."""
    caption = caption.strip()
    return f"[{kind}] {caption}" if caption else f"[{kind}]"


def read_inbound(text: str, opt_out: OptOutWords = DEFAULT_OPT_OUTS) -> Inbound:
    stripped = text.strip()
    m = _MARKER.match(stripped)
    if m and m.group(1) in MEDIA_KINDS:
        caption = (m.group(2) or "").strip()
        return Inbound("media", caption, MEDIA_KINDS[m.group(1)])
    head = stripped.split(maxsplit=1)[0].split("@", 1)[0].lower() if stripped else ""
    if head == OPT_OUT_PAYLOAD and len(stripped.split()) == 1:  # the button, or typed
        return Inbound("command", stripped, command="opt_out")
    said_in = opt_out.language(stripped)
    if said_in is not None:
        return Inbound("command", stripped, command="opt_out", language=said_in)
    if head in COMMANDS and len(stripped.split()) <= 2:
        return Inbound("command", stripped, command=COMMANDS[head])
    word = stripped.strip(" !！?？。.").lower()
    if word in COMMAND_WORDS:
        return Inbound("command", stripped, command=COMMAND_WORDS[word])
    if stripped and not _has_words(stripped):
        # Emoji, punctuation or symbols alone: a reaction, read like a sticker. Digits are words
        # here: a bare order number is an answer.
        return Inbound("media", "", "sticker")
    return Inbound("text", text)


def _has_words(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in ("L", "N") for ch in text)


def shared_location(
    lat: float | str, lon: float | str, label: str = "", address: str = "", scale: object = None
) -> dict[str, object] | None:
    """A location the customer shared, for the message's payload (`engine.handle(shared=)`):
    coordinates in range, label and address cut to a sane length; None if it is no place."""
    try:
        la, lo = float(lat), float(lon)
    except (TypeError, ValueError):
        return None
    if not (-90.0 <= la <= 90.0 and -180.0 <= lo <= 180.0):
        return None
    place: dict[str, object] = {"lat": round(la, 6), "lon": round(lo, 6)}
    for key, value in (("label", label), ("address", address)):
        if value and value.strip():
            place[key] = value.strip()[:300]
    if scale not in (None, ""):
        with contextlib.suppress(ValueError):
            place["scale"] = int(str(scale))
    return {"location": place}


def shared_contact(name: str, phone: str) -> dict[str, object] | None:
    """A contact card the customer shared (name, phone), for the payload; the store masks the
    phone when transcripts are masked."""
    card = {k: v.strip()[:100] for k, v in (("name", name), ("phone", phone)) if v and v.strip()}
    return {"contact": card} if card else None
