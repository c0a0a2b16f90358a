"""WeChat's webhook, `/webhooks/wechat`: GET is the server-address handshake (echo `echostr`),
POST a customer's message. Both carry WeChat's signature in the query string and are refused
with 403 without a valid one."""

from __future__ import annotations

from aiohttp import web

from bot.server.runtime import RUNTIME
from connectors.wechat.protocol import MAX_XML_BYTES, parse, verify

routes = web.RouteTableDef()


def _connector(request: web.Request):  # type: ignore[no-untyped-def]
    connector = request.app[RUNTIME].wechat
    if connector is None:
        raise web.HTTPNotFound(text="the WeChat webhook is not enabled")
    token = connector.settings.token or ""
    if not verify(token, dict(request.query)):
        raise web.HTTPForbidden(text="wrong or missing WeChat signature")
    return connector


@routes.get("/webhooks/wechat")
async def handshake(request: web.Request) -> web.Response:
    _connector(request)
    return web.Response(text=request.query.get("echostr", ""))


@routes.post("/webhooks/wechat")
async def message(request: web.Request) -> web.Response:
    connector = _connector(request)
    if request.content_length is not None and request.content_length > MAX_XML_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_XML_BYTES, request.content_length)
    inbound = parse(await request.read())
    if inbound is None:
        return web.Response(text="success")
    body = await connector.answer(inbound)
    content_type = "text/plain" if body == "success" else "application/xml"
    return web.Response(text=body, content_type=content_type, charset="utf-8")
