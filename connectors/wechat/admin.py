"""What an operator does to the Official Account from the command line (`relaydesk wechat
menu`, wired in bot/cli/wechat.py): create the custom menu config.yml defines."""

from __future__ import annotations

from typing import Any

from bot.errors import ConfigError
from connectors.outbox import RetryLater, Undeliverable
from connectors.wechat.api import WechatApi
from connectors.wechat.menu import menu_body
from connectors.wechat.settings import WechatSettings


async def create_menu(settings: WechatSettings, *, dry_run: bool = False) -> dict[str, Any]:
    """Push `connectors.wechat.menu` with menu/create (it replaces the account's menu; WeChat
    shows it to followers within minutes); the body sent. ConfigError for a missing
    credential or a refusal, naming WeChat's errcode."""
    body = menu_body(settings.menu)
    if dry_run:
        return body
    missing = [k for k in ("app_id", "app_secret") if not getattr(settings, k)]
    if missing:
        raise ConfigError(
            ", ".join(f"connectors.wechat.{k}" for k in missing) + ": required to create the menu"
        )
    assert settings.app_id and settings.app_secret
    api = WechatApi(
        settings.api_base,
        settings.app_id,
        settings.app_secret,
        timeout_s=settings.delivery.request_timeout_seconds,
    )
    try:
        await api.create_menu(body)
    except (RetryLater, Undeliverable) as exc:
        raise ConfigError(f"WeChat did not create the menu: {exc}") from None
    finally:
        await api.close()
    return body
