"""The channel registry: which `connectors:` sections build which channels, each section checked
by its channel's own settings model, every channel kind's limits known whether it is enabled or
not, and a new channel being one folder and one config section."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import connectors
from bot import clock
from bot.config import Config, config_from_dict
from bot.errors import ConfigError
from bot.store.sql_store import SqlStore
from connectors.channel import DeepLinking
from connectors.registry import ChannelRegistry, channel_names, channel_settings
from connectors.telegram.channel import TelegramChannel
from connectors.telegram.settings import TelegramSettings
from connectors.wechat.window import WechatLimits
from tests.apps import AppFactory

PIPELINE: list[dict[str, Any]] = [{"name": "LanguageDetector"}, {"name": "SpacyTokenizer"}]
TELEGRAM_ON = {"enabled": True, "token": "1:abc", "link_code_minutes": 5}


def config(**sections: Any) -> Config:
    return config_from_dict({"pipeline": [dict(c) for c in PIPELINE], **sections}, env={})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(f"sqlite:///{tmp_path / 'relaydesk.db'}")
    yield opened
    await opened.close()


def test_the_known_channels_are_the_folders_with_a_channel_module() -> None:
    assert channel_names() == ["rest", "telegram", "web", "wechat"]


def test_sections_left_out_build_rest_and_the_widget_only() -> None:
    registry = ChannelRegistry.from_config(config())
    assert sorted(registry) == ["rest", "web"]
    assert sorted(registry.kinds) == ["rest", "telegram", "web", "wechat"]


def test_an_enabled_section_builds_its_channel_with_its_own_settings() -> None:
    registry = ChannelRegistry.from_config(
        config(connectors={"telegram": TELEGRAM_ON, "web": {"enabled": False}})
    )
    assert sorted(registry) == ["rest", "telegram"]
    telegram = registry["telegram"]
    assert isinstance(telegram, TelegramChannel)
    assert telegram.settings == TelegramSettings(**TELEGRAM_ON)
    assert telegram.settings.link_code_minutes == 5


def test_a_disabled_section_builds_nothing_but_is_still_checked() -> None:
    registry = ChannelRegistry.from_config(config(connectors={"telegram": {"enabled": False}}))
    assert "telegram" not in registry
    with pytest.raises(ConfigError) as info:
        ChannelRegistry.from_config(config(connectors={"wechat": {"window_messages": 0}}))
    assert str(info.value).startswith("config.yml: connectors.wechat.window_messages: ")


def test_an_unknown_section_is_refused_naming_the_known_channels() -> None:
    with pytest.raises(ConfigError) as info:
        ChannelRegistry.from_config(config(connectors={"telgram": TELEGRAM_ON}))
    assert str(info.value) == (
        "config.yml: connectors.telgram: unknown key; allowed: rest, telegram, web, wechat"
    )


def test_an_unknown_key_in_a_section_lists_that_channels_keys() -> None:
    with pytest.raises(ConfigError) as info:
        channel_settings(config(connectors={"wechat": {"tokn": "x"}}))
    assert str(info.value) == (
        "config.yml: connectors.wechat.tokn: unknown key; allowed: api_base, app_id, "
        "app_secret, create_menu, delivery, dropped_reply_wait_seconds, enabled, "
        "encoding_aes_key, encryption, fetch_user_info, media_fetch_seconds, menu, "
        "passive_reply_seconds, templates, timestamp_window_seconds, token, "
        "token_lease_seconds, window_hours, window_messages"
    )
    with pytest.raises(ConfigError) as info:
        channel_settings(config(connectors={"telegram": {"delivery": {"max_attempts": 0}}}))
    assert "connectors.telegram.delivery.max_attempts: " in str(info.value)


async def test_every_channel_kinds_limits_are_known_whether_enabled_or_not(
    store: SqlStore,
) -> None:
    limits = ChannelRegistry.from_config(config()).limits(store)
    assert sorted(limits) == ["rest", "telegram", "web", "wechat"]
    assert {n: lim.max_text_chars for n, lim in limits.items()} == {
        "rest": None,
        "telegram": 4096,
        "web": None,
        "wechat": 2000,
    }
    assert isinstance(limits["wechat"], WechatLimits)
    customer = await store.customers.for_identity("rest", "c1")
    assert await limits["rest"].messaging_window(customer.id, clock.now()) is None
    assert await limits["telegram"].messaging_window(customer.id, clock.now()) is None


def test_a_new_channel_is_one_folder_and_one_config_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "echo"
    folder.mkdir()
    (folder / "__init__.py").write_text('"""A test channel."""\n')
    (folder / "settings.py").write_text(
        textwrap.dedent(
            """
            from connectors.settings import ChannelSettings

            class EchoSettings(ChannelSettings):
                greeting: str = "hi"

            SETTINGS = EchoSettings
            """
        )
    )
    (folder / "channel.py").write_text(
        textwrap.dedent(
            """
            from connectors.channel import Channel
            from connectors.echo.settings import EchoSettings

            class EchoChannel(Channel):
                name = "echo"
                label = "Echo"
                settings_model = EchoSettings
                max_text_chars = 10

            CHANNEL = EchoChannel
            """
        )
    )
    monkeypatch.setattr(connectors, "__path__", [*connectors.__path__, str(tmp_path)])
    try:
        assert "echo" in channel_names()
        registry = ChannelRegistry.from_config(
            config(connectors={"echo": {"enabled": True, "greeting": "hello"}})
        )
        echo: Any = registry["echo"]
        assert (echo.label, echo.settings.greeting) == ("Echo", "hello")
        with pytest.raises(ConfigError, match=r"connectors\.echo\.greting: unknown key"):
            channel_settings(config(connectors={"echo": {"greting": "hello"}}))
    finally:
        for name in [m for m in sys.modules if m.startswith("connectors.echo")]:
            del sys.modules[name]


async def test_channels_not_enabled_are_not_mounted(make_client: AppFactory) -> None:
    client = await make_client()  # the repository's config: REST and the widget only
    assert (await client.post("/webhooks/telegram", json={})).status == 404
    assert (await client.post("/webhooks/wechat", data="<xml/>")).status == 404
    assert (await client.get("/webhooks/wechat")).status == 404
    assert (await client.post("/webhooks/rest/webhook", json={})).status == 400  # mounted
    assert (await client.get("/widget.js")).status == 200


def test_telegram_offers_the_widgets_deep_link_only_once_connected() -> None:
    registry = ChannelRegistry.from_config(config(connectors={"telegram": TELEGRAM_ON}))
    telegram, widget = registry["telegram"], registry["web"]
    assert isinstance(telegram, DeepLinking) and not isinstance(widget, DeepLinking)
    assert not telegram.can_link()  # not started: no bot name to link to yet
