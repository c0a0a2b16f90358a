"""The language the bot speaks in a conversation, kept across turns.

Judged one message at a time, a Chinese customer who sends an order number, a sticker, "/help"
or "ok" would be answered in the default language, and one who asks an off-topic question in
English would flip the whole chat. So the conversation has a language: the channel's hint (the
widget's browser language, Telegram's `language_code`) until the customer writes clearly, then
the language of their first clear message. It changes only on clear evidence: a clear message in
the other language that the bot understood as a request in its domain, or two clear messages in
a row in the other language. Numbers, emoji, commands, button payloads and one-word replies are
never evidence.
"""

from __future__ import annotations

import re

from bot.nlu.language import han_count

_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
MIN_HAN = 2
MIN_LATIN_WORDS = 2


def clear_language(text: str) -> str | None:
    """ "zh" or "en" when the message is plainly written in it, else None. Mixed text with
    enough Chinese is Chinese ("Kite Watch 3 支持 eSIM 吗"): product names are Latin."""
    t = text.strip()
    if not t or t.startswith("/"):
        return None
    han = han_count(t)
    words = len(_LATIN_WORD.findall(t))
    if han >= MIN_HAN:
        return "zh" if han >= words else None
    if han == 0 and words >= MIN_LATIN_WORDS:
        return "en"
    return None


def hint_language(hint: str | None) -> str | None:
    """A channel's language tag ("zh-hans", "en-US", "zh_CN") as zh or en; None otherwise."""
    if not hint:
        return None
    tag = hint.strip().lower().replace("_", "-").split("-", 1)[0]
    return tag if tag in ("zh", "en") else None


def next_language(
    current: str | None,
    clear: str | None,
    *,
    in_domain: bool,
    previous_clear: str | None,
    hint: str | None,
    default: str,
) -> str:
    """The conversation's language after this message. `clear` is this message's clear
    language, `previous_clear` the last message's, `in_domain` whether the bot understood it as
    something it handles (not out of scope, not a fallback)."""
    if current is None:
        return clear or hint_language(hint) or default
    if clear is None or clear == current:
        return current
    if in_domain or previous_clear == clear:
        return clear
    return current
