"""The `connectors.wechat` section: the Official Account's credentials (from the environment),
the replay guard, the customer-service window, and outbound retries."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from connectors.settings import ChannelSettings, DeliverySettings, none_when_empty


class WechatSettings(ChannelSettings):
    """A WeChat Official Account: the message webhook and the customer-service message API."""

    enabled: bool = False
    token: str | None = None  # the Token set in the Official Account's server settings
    app_id: str | None = None
    app_secret: str | None = None
    api_base: str = "https://api.weixin.qq.com"
    # WeChat waits 5 s for the webhook's answer; reply in it only if the bot is done by then.
    passive_reply_seconds: float = Field(4.5, gt=0, lt=5)
    # A signed request whose timestamp is further than this from now is refused (403): a
    # captured request stops working after it. Within it, a signature is used for one request
    # only (WeChat's own retries of that request excepted).
    timestamp_window_seconds: int = Field(300, ge=30, le=3600)
    # After the customer's last message, the customer-service API may send this many messages
    # within this many hours.
    window_hours: float = Field(48, gt=0)
    window_messages: int = Field(5, ge=1)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)

    _empty = field_validator("token", "app_id", "app_secret", mode="before")(none_when_empty)

    @model_validator(mode="after")
    def _complete(self) -> WechatSettings:
        if self.enabled:
            missing = [k for k in ("token", "app_id", "app_secret") if not getattr(self, k)]
            if missing:
                raise ValueError(f"{', '.join(missing)}: required when wechat is enabled")
        return self

    def secrets(self) -> list[str]:
        return [v for v in (self.token, self.app_secret) if v]


SETTINGS = WechatSettings
