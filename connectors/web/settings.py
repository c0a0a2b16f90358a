"""The `connectors.web` section: the web-chat widget's identity checks, origins, text limit, and
what the panel shows when it opens (greeting, reply-time promise, suggested topics, in zh and
en), and when the widget reports time spent on a product page (`dwell`), sent to the browser in
`welcome.options`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.settings import ChannelSettings, none_when_empty

MAX_TOPICS = 6


class Localized(BaseModel):
    """One text the customer reads, in both languages the widget speaks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field("", max_length=300)
    en: str = Field("", max_length=300)

    def pick(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


class Topic(BaseModel):
    """A suggested topic: a button whose `payload` is sent as the customer's message (an
    intent like "/order_status", or plain words)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: str = Field(min_length=1, max_length=40)
    en: str = Field(min_length=1, max_length=40)
    payload: str = Field(min_length=1, max_length=200)


class Notify(BaseModel):
    """Defaults for the embed tag's data-sound and data-auto-open (the tag wins)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sound: bool = False
    auto_open: Literal["agent", "off"] = "agent"


class Dwell(BaseModel):
    """Page dwell: the widget counts the time a page whose path contains `path_pattern` is
    visible and, once it reaches `seconds` (the embed tag's data-dwell-seconds wins), reports
    it once per page view; the socket records a `page_dwell` customer event (bot/proactive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    path_pattern: str = Field("/products/", min_length=1, max_length=200)
    seconds: int = Field(300, ge=1, le=86_400)

    @field_validator("path_pattern")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError(f"{value!r}: a URL path (or part of one) starting with /, no spaces")
        return value

    def matches(self, path: str) -> bool:
        return self.enabled and self.path_pattern in path


class WebSettings(ChannelSettings):
    """The web-chat widget."""

    enabled: bool = True
    # HMAC-SHA256 key for `user_hash` = HMAC(identity_secret, f"{user_id}:{user_ts}"): the host
    # site proves who its logged-in visitor is, and when it said so (user_ts, Unix seconds).
    # Unset: only anonymous visitors. Keep it in the environment.
    identity_secret: str | None = Field(None, min_length=16)
    # How old a signed identity may be. The widget sends it again on every reconnect, so it
    # must outlive an open tab; a day covers a working day and makes a leaked hash (a cached
    # page, a shared screenshot) useless by the next.
    identity_max_age_seconds: int = Field(86_400, ge=60, le=30 * 86_400)
    # Also accept the old form without a time, user_hash = HMAC(identity_secret, user_id), which
    # never expires. Only while host pages move to the signed time; off by default.
    legacy_identity_hash: bool = False
    # Origins allowed to open the widget socket (the sites embedding it); [] allows any.
    allowed_origins: list[str] = Field(default_factory=list)
    max_text_chars: int = Field(4000, ge=1, le=20000)
    # Shown when the panel opens; empty texts are left out.
    greeting: Localized = Localized()
    reply_time: Localized = Localized()
    topics: list[Topic] = Field(default_factory=list, max_length=MAX_TOPICS)
    notify: Notify = Notify()
    dwell: Dwell = Dwell()

    _empty = field_validator("identity_secret", mode="before")(none_when_empty)

    def secrets(self) -> list[str]:
        return [self.identity_secret] if self.identity_secret else []

    def options(self, language: str, *, telegram: bool) -> dict[str, object]:
        """`welcome.options` in the hello's language (docs/web-protocol.md, Widget)."""
        return {
            "greeting": self.greeting.pick(language) or None,
            "reply_time": self.reply_time.pick(language) or None,
            "topics": [
                {"title": t.zh if language == "zh" else t.en, "payload": t.payload}
                for t in self.topics
            ],
            "telegram": telegram,
            "notify": {"sound": self.notify.sound, "auto_open": self.notify.auto_open},
            "dwell": (
                {"path_pattern": self.dwell.path_pattern, "seconds": self.dwell.seconds}
                if self.dwell.enabled
                else None
            ),
        }


SETTINGS = WebSettings
