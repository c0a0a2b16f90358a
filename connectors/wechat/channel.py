"""WeChat as a channel: the webhook routes, the connector's lifecycle (connectors/wechat/
connector.py), and the limits agents must know: the customer-service window and the length of
one text."""

from __future__ import annotations

from aiohttp import web

from bot.config import Config
from bot.store.sql_store import SqlStore
from connectors.channel import Channel, ChannelServices
from connectors.settings import ChannelSettings
from connectors.wechat import routes as wechat_routes
from connectors.wechat.connector import WechatConnector
from connectors.wechat.followers import Followers
from connectors.wechat.protocol import MAX_TEXT_CHARS
from connectors.wechat.settings import WechatSettings
from connectors.wechat.window import WechatLimits


class WechatChannel(Channel):
    name = "wechat"
    label = "WeChat"
    settings_model = WechatSettings
    max_text_chars = MAX_TEXT_CHARS

    def __init__(self, config: Config, settings: ChannelSettings) -> None:
        if not isinstance(settings, WechatSettings):
            raise TypeError(f"wechat settings expected, got {type(settings).__name__}")
        super().__init__(config, settings)
        self.settings: WechatSettings = settings
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

        async def message(request: web.Request) -> web.StreamResponse:
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

    @classmethod
    def limits(cls, settings: ChannelSettings, store: SqlStore) -> WechatLimits:
        """The customer-service window and the length of one text (connectors/wechat/window.py)."""
        if not isinstance(settings, WechatSettings):
            raise TypeError(f"wechat settings expected, got {type(settings).__name__}")
        return WechatLimits(settings, store.deliveries, Followers(store.customers))


CHANNEL = WechatChannel
