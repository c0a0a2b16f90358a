"""The `connectors.telegram` section: the bot's token (from the environment), webhook or long
polling, the polling lease shared by several instances, and outbound retries."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from connectors.settings import ChannelSettings, DeliverySettings, none_when_empty


class TelegramSettings(ChannelSettings):
    """A Telegram bot, through python-telegram-bot. The token comes from the environment."""

    enabled: bool = False
    token: str | None = None
    mode: Literal["webhook", "polling"] = "polling"
    # Webhook mode: the public HTTPS address Telegram posts to (ending in /webhooks/telegram),
    # registered with setWebhook at start-up when given, and the secret Telegram sends back in
    # X-Telegram-Bot-Api-Secret-Token (1-256 of A-Z, a-z, 0-9, _ and -).
    webhook_url: str | None = None
    secret_token: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,256}$")
    polling_timeout_seconds: int = Field(30, ge=0, le=50)
    # With several instances (server.redis_url), one polls at a time: it holds a Redis lease of
    # this length, renewed at a third of it; when the holder dies another takes over after it.
    polling_lease_seconds: float = Field(10.0, ge=1, le=300)
    # The Bot API server; only a local Bot API server or a test stand-in changes it.
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    link_code_minutes: int = Field(30, ge=1, le=24 * 60)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)

    _empty = field_validator("token", "webhook_url", "secret_token", mode="before")(none_when_empty)

    @model_validator(mode="after")
    def _complete(self) -> TelegramSettings:
        if self.enabled and not self.token:
            raise ValueError("token: required when telegram is enabled (e.g. ${TELEGRAM_TOKEN})")
        if self.enabled and self.mode == "webhook" and not self.secret_token:
            raise ValueError("secret_token: required in webhook mode")
        return self

    def secrets(self) -> list[str]:
        return [v for v in (self.token, self.secret_token) if v]


SETTINGS = TelegramSettings
