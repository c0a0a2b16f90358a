"""The `connectors.web` section: the web-chat widget's identity checks, origins and text limit."""

from __future__ import annotations

from pydantic import Field, field_validator

from connectors.settings import ChannelSettings, none_when_empty


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

    _empty = field_validator("identity_secret", mode="before")(none_when_empty)

    def secrets(self) -> list[str]:
        return [self.identity_secret] if self.identity_secret else []


SETTINGS = WebSettings
