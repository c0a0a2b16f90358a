"""The page a web customer writes from: `hello.context` checked and sized, and the request's
User-Agent cut down to what an agent reads at a glance ("Chrome 120 on Android").

The parser knows the browsers and systems that reach a Chinese or Western shop today and says
"Other browser" for the rest; it does not try to be a full UA database (those need updating
every month and still guess). Order matters: Edge, Opera, Samsung and WeChat also say "Chrome",
and Chrome also says "Safari".
"""

from __future__ import annotations

import re
from typing import Any

from bot.store.web_context import WebContext

MAX_FIELD_CHARS = 500
FIELDS = ("page_url", "page_title", "referrer", "timezone", "screen")
MAX_UA_CHARS = 500

_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("WeChat", re.compile(r"MicroMessenger/(\d+)")),
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"(?:OPR|OPT)/(\d+)")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/(\d+)")),
    ("UC Browser", re.compile(r"UCBrowser/(\d+)")),
    ("Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"(?:HeadlessChrome|Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/")),
)
_SYSTEMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("HarmonyOS", re.compile(r"HarmonyOS|OpenHarmony")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Macintosh|Mac OS X")),
    ("Linux", re.compile(r"Linux|X11")),
)


class ContextError(ValueError):
    """`hello.context` is not an object of short strings; the message names the field."""


def browser_name(user_agent: str | None) -> str | None:
    """ "Chrome 120 on Android", "Safari 17 on iOS", "Other browser on Windows"; None when the
    request sent no User-Agent."""
    if not user_agent:
        return None
    ua = user_agent[:MAX_UA_CHARS]
    browser = "Other browser"
    for name, pattern in _BROWSERS:
        found = pattern.search(ua)
        if found:
            browser = f"{name} {found.group(1)}"
            break
    system = next((name for name, pattern in _SYSTEMS if pattern.search(ua)), None)
    # Android UAs also say "Linux"; an iPad may claim to be a Mac: the order above settles both.
    return f"{browser} on {system}" if system else browser


def parse_context(raw: Any) -> dict[str, str | None]:
    """The page fields of `hello.context`: absent fields are None; anything but a string of at
    most 500 characters is refused with ContextError."""
    if raw is None:
        return dict.fromkeys(FIELDS)
    if not isinstance(raw, dict):
        raise ContextError("'context' must be an object")
    out: dict[str, str | None] = {}
    for name in FIELDS:
        value = raw.get(name)
        if value is None or value == "":
            out[name] = None
            continue
        if not isinstance(value, str):
            raise ContextError(f"'context.{name}' must be a string")
        if len(value) > MAX_FIELD_CHARS:
            raise ContextError(f"'context.{name}' is over {MAX_FIELD_CHARS} characters")
        out[name] = value
    return out


def build_context(
    fields: dict[str, str | None],
    user_agent: str | None,
    *,
    identity: str | None,
    language: str,
) -> WebContext:
    """What the store keeps (contract C5) from the checked fields and the request."""
    ua = user_agent[:MAX_UA_CHARS] if user_agent else None
    return WebContext(
        page_url=fields.get("page_url"),
        page_title=fields.get("page_title"),
        referrer=fields.get("referrer"),
        timezone=fields.get("timezone"),
        screen=fields.get("screen"),
        user_agent=ua,
        browser=browser_name(ua),
        identity=identity,
        language=language,
    )
