"""WeChat as a channel: the webhook routes, the connector's lifecycle (connectors/wechat/
connector.py), and the limits agents must know: the customer-service window and the length of
one text."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from bot.config import Config
from bot.store.deliveries import Deliveries
from connectors.channel import Channel, ChannelServices
from connectors.wechat import routes as wechat_routes
from connectors.wechat.connector import WechatConnector
from connectors.wechat.protocol import MAX_TEXT_CHARS
from connectors.wechat.window import window_of
from handoff.channel_limits import MessagingWindow


class WechatChannel(Channel):
    name = "wechat"
    label = "WeChat"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.settings = config.connectors.wechat
        self._connector: WechatConnector | None = None

    @property
    def connector(self) -> WechatConnector:
        """The running connector (from start-up on)."""
        if self._connector is None:
            raise RuntimeError("the wechat channel has not been started")
        return self._connector

    def routes(self) -> web.RouteTableDef:
        async def handshake(request: web.Request) -> web.Response:
            return await wechat_routes.handshake(request, self.connector)

        async def message(request: web.Request) -> web.Response:
            return await wechat_routes.message(request, self.connector)

        routes = web.RouteTableDef()
        routes.get("/webhooks/wechat")(handshake)
        routes.post("/webhooks/wechat")(message)
        return routes

    async def start(self, services: ChannelServices) -> None:
        await super().start(services)
        self._connector = WechatConnector(self.settings, services)
        await self._connector.start()

    async def stop(self) -> None:
        if self._connector is not None:
            await self._connector.stop()

    @property
    def max_text_chars(self) -> int:
        return MAX_TEXT_CHARS

    async def messaging_window(self, customer_id: str, now: datetime) -> MessagingWindow:
        deliveries = Deliveries(self.services.store.db)
        window = await window_of(deliveries, customer_id, self.settings, now, queued=True)
        return MessagingWindow(
            self.name,
            window.last_customer_at,
            window.closes_at,
            window.remaining,
            window.why_closed(now),
        )


CHANNEL = WechatChannel
