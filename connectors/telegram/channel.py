"""Telegram as a channel: the webhook route, the connector's lifecycle (connectors/telegram/
connector.py), Telegram's message length, and the t.me deep link the widget offers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.config import Config
from connectors.channel import Channel, ChannelServices
from connectors.settings import ChannelSettings
from connectors.telegram.connector import TelegramConnector
from connectors.telegram.routes import telegram_webhook
from connectors.telegram.sender import MAX_TEXT
from connectors.telegram.settings import TelegramSettings


class TelegramChannel(Channel):
    name = "telegram"
    label = "Telegram"
    settings_model = TelegramSettings
    max_text_chars = MAX_TEXT

    def __init__(self, config: Config, settings: ChannelSettings) -> None:
        if not isinstance(settings, TelegramSettings):
            raise TypeError(f"telegram settings expected, got {type(settings).__name__}")
        super().__init__(config, settings)
        self.settings: TelegramSettings = settings
        self._connector: TelegramConnector | None = None

    @property
    def connector(self) -> TelegramConnector:
        """The running connector (from start-up on)."""
        if self._connector is None:
            raise RuntimeError("the telegram channel has not been started")
        return self._connector

    def routes(self) -> web.RouteTableDef:
        async def webhook(request: web.Request) -> web.Response:
            return await telegram_webhook(request, self.connector)

        routes = web.RouteTableDef()
        routes.post("/webhooks/telegram")(webhook)
        return routes

    async def start(self, services: ChannelServices) -> None:
        await super().start(services)
        self._connector = TelegramConnector(self.settings, services)
        await self._connector.start()

    async def stop(self) -> None:
        if self._connector is not None:
            await self._connector.stop()

    def can_link(self) -> bool:
        return self._connector is not None and self._connector.username is not None

    async def link_url(self, customer_id: str) -> tuple[str, str, Any]:
        return await self.connector.link_url(customer_id)


CHANNEL = TelegramChannel
