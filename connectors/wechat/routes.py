"""WeChat's webhook, `/webhooks/wechat`: GET is the server-address handshake (echo `echostr`),
POST a customer's message. Both carry WeChat's signature in the query string and are refused
with 403 without a valid one, when the signed timestamp is outside the window, or when the
signature was already used for another request (connectors/wechat/replay.py)."""

from __future__ import annotations

import hashlib

from aiohttp import web

from bot import clock
from connectors.wechat.connector import WechatConnector
from connectors.wechat.protocol import MAX_XML_BYTES, parse, verify
from connectors.wechat.replay import ReplayRefused, request_identity


def _verified(request: web.Request, connector: WechatConnector) -> WechatConnector:
    token = connector.settings.token or ""
    if not verify(token, dict(request.query)):
        raise web.HTTPForbidden(text="wrong or missing WeChat signature")
    return connector


async def _first_use(request: web.Request, connector: WechatConnector, identity: str) -> None:
    try:
        await connector.replay.check(dict(request.query), identity, clock.now().timestamp())
    except ReplayRefused as exc:
        raise web.HTTPForbidden(text=f"WeChat signature refused: {exc}") from None


async def handshake(request: web.Request, connector: WechatConnector) -> web.Response:
    connector = _verified(request, connector)
    echostr = request.query.get("echostr", "")
    await _first_use(request, connector, request_identity("handshake", echostr))
    return web.Response(text=echostr)


async def message(request: web.Request, connector: WechatConnector) -> web.Response:
    connector = _verified(request, connector)
    if request.content_length is not None and request.content_length > MAX_XML_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_XML_BYTES, request.content_length)
    body = await request.read()
    inbound = parse(body)
    if inbound is None:  # nothing to answer; still, a signature is good for one request
        identity = request_identity("ignored", hashlib.sha256(body).hexdigest())
    else:  # whatever decides who said what: a retry of the message has the same
        identity = request_identity(
            inbound.openid, inbound.account, inbound.external_id, inbound.text
        )
    await _first_use(request, connector, identity)
    if inbound is None:
        return web.Response(text="success")
    body_text = await connector.answer(inbound)
    content_type = "text/plain" if body_text == "success" else "application/xml"
    return web.Response(text=body_text, content_type=content_type, charset="utf-8")
