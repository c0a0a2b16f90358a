"""The web-chat widget as a channel: its script, the demo page, the knowledge media it shows,
and its socket (connectors/web/socket.py). Replies are read from the store by the socket, so
the widget has no outbound sender."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.config import Config
from connectors.channel import Channel
from connectors.settings import ChannelSettings
from connectors.web import media as widget_media
from connectors.web import socket
from connectors.web.settings import WebSettings


class WebChannel(Channel):
    name = "web"
    label = "Web"
    settings_model = WebSettings

    def __init__(self, config: Config, settings: ChannelSettings) -> None:
        if not isinstance(settings, WebSettings):
            raise TypeError(f"web settings expected, got {type(settings).__name__}")
        super().__init__(config, settings)
        self.settings: WebSettings = settings

    def routes(self) -> web.RouteTableDef:
        media = Path(self.config.path(self.config.knowledge.path)) / "media"

        async def kb_media(request: web.Request) -> web.FileResponse:
            return await socket.kb_media(request, media)

        async def widget_socket(request: web.Request) -> web.WebSocketResponse:
            return await socket.widget_socket(request, self.services, self.settings)

        async def upload(request: web.Request) -> web.Response:
            return await widget_media.upload(request, self.services, self.settings)

        async def media_file(request: web.Request) -> web.Response:
            return await widget_media.media_file(request, self.services, self.settings)

        async def preflight(request: web.Request) -> web.Response:
            return await widget_media.preflight(request, self.settings)

        routes = web.RouteTableDef()
        routes.post("/widget/upload")(upload)
        routes.get("/widget/media/{media_id}")(media_file)
        routes.options("/widget/upload")(preflight)
        routes.options("/widget/media/{media_id}")(preflight)
        routes.get("/")(socket.demo_page)
        routes.get("/widget.js")(socket.widget_script)
        routes.get("/kb/media/{name}")(kb_media)
        routes.get("/ws/widget")(widget_socket)
        return routes


CHANNEL = WebChannel
