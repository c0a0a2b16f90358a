"""The `connectors.wechat` section: the Official Account's credentials (from the environment),
the replay guard, the customer-service window, the custom menu, template messages for after the
window, follower profiles, and outbound retries."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from connectors.settings import ChannelSettings, DeliverySettings, none_when_empty
from connectors.wechat.crypto import aes_key
from connectors.wechat.menu import MenuButton, check_menu
from connectors.wechat.templates import Templates


class WechatSettings(ChannelSettings):
    """A WeChat Official Account: the message webhook and the customer-service message API."""

    # Validation errors name the key without echoing its value (the secret or the AES key).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    enabled: bool = False
    token: str | None = None  # the Token set in the Official Account's server settings
    app_id: str | None = None
    app_secret: str | None = None
    api_base: str = "https://api.weixin.qq.com"
    # 消息加解密, as set in the account's server settings: "plaintext" (明文模式), "compatible"
    # (兼容模式: both plaintext and ciphertext arrive; the encrypted part is checked and used,
    # the reply is encrypted) or "safe" (安全模式: ciphertext only; a plaintext post is refused).
    # The last two need the account's 43-character EncodingAESKey.
    encryption: Literal["plaintext", "compatible", "safe"] = "plaintext"
    encoding_aes_key: str | None = None
    # A passive reply whose connection dropped waits this long for WeChat's retry of the
    # message (answered with the reply), then goes through the customer-service API.
    dropped_reply_wait_seconds: float = Field(15.0, ge=0, le=60)
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
    # The custom menu (connectors/wechat/menu.py): CLICK keys mapped to a command, an intent or
    # a text; pushed with `relaydesk wechat menu`, or at every start with `create_menu`.
    menu: list[MenuButton] = Field(default_factory=list)
    create_menu: bool = False
    # Sent instead of a message the customer-service window no longer allows
    # (connectors/wechat/templates.py); without them such a message is parked, not retried.
    templates: Templates = Field(default_factory=Templates)
    # Fetch each follower's profile (user/info) once, for the customer's name and language.
    fetch_user_info: bool = True
    # How long a webhook waits for media/get to fetch a customer's image or voice note before
    # the message is stored with a note instead (WeChat waits 5 s for the whole answer).
    media_fetch_seconds: float = Field(2.0, gt=0, le=4)
    # With server.redis_url, instances share one access token; one refreshes it under a lease
    # held at most this long.
    token_lease_seconds: float = Field(15.0, ge=1, le=120)

    _empty = field_validator("token", "app_id", "app_secret", "encoding_aes_key", mode="before")(
        none_when_empty
    )

    @field_validator("encoding_aes_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                aes_key(value)
            except ValueError as exc:
                raise ValueError(f"connectors.wechat.encoding_aes_key {exc}") from None
        return value

    @field_validator("menu")
    @classmethod
    def _menu(cls, value: list[MenuButton]) -> list[MenuButton]:
        check_menu(value)
        return value

    @model_validator(mode="after")
    def _complete(self) -> WechatSettings:
        if self.enabled:
            missing = [k for k in ("token", "app_id", "app_secret") if not getattr(self, k)]
            if missing:
                raise ValueError(f"{', '.join(missing)}: required when wechat is enabled")
        if self.encryption != "plaintext" and not self.encoding_aes_key:
            raise ValueError(
                "connectors.wechat.encoding_aes_key: required when connectors.wechat.encryption"
                f" is {self.encryption!r} (the account's 43-character EncodingAESKey)"
            )
        return self

    def secrets(self) -> list[str]:
        return [v for v in (self.token, self.app_secret, self.encoding_aes_key) if v]


SETTINGS = WechatSettings
