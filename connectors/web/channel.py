"""The web-chat widget as a channel: its script, the demo page, the knowledge media it shows,
and its socket (connectors/web/socket.py). Replies are read from the store by the socket, so
the widget has no outbound sender."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from connectors.channel import Channel
from connectors.web import socket


class WebChannel(Channel):
    name = "web"
    label = "Web"

    def routes(self) -> web.RouteTableDef:
        media = Path(self.config.path(self.config.knowledge.path)) / "media"

        async def kb_media(request: web.Request) -> web.FileResponse:
            return await socket.kb_media(request, media)

        async def widget_socket(request: web.Request) -> web.WebSocketResponse:
            return await socket.widget_socket(request, self.services)

        routes = web.RouteTableDef()
        routes.get("/")(socket.demo_page)
        routes.get("/widget.js")(socket.widget_script)
        routes.get("/kb/media/{name}")(kb_media)
        routes.get("/ws/widget")(widget_socket)
        return routes


CHANNEL = WebChannel
