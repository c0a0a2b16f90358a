"""WeChat's webhook, `/webhooks/wechat`: GET is the server-address handshake (echo `echostr`),
POST a customer's message. Both carry WeChat's signature in the query string and are refused
with 403 without a valid one, when the signed timestamp is outside the window, or when the
signature was already used for another request (connectors/wechat/replay.py).

With `encrypt_type=aes` (compatible and safe modes) the message is the body's `Encrypt`,
checked against `msg_signature` (403 if wrong) and decrypted (400 if it cannot be: another key,
another appid, garbage); the passive reply is encrypted too. In safe mode a plaintext post is
refused (400). Refusals come before anything is stored, so no accepted message is touched."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot import clock
from connectors.wechat.connector import SUCCESS, WechatConnector
from connectors.wechat.crypto import CryptoError, SignatureError
from connectors.wechat.protocol import MAX_XML_BYTES, encrypted_part, parse, verify
from connectors.wechat.replay import ReplayRefused, request_identity

log = logging.getLogger(__name__)


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


async def message(request: web.Request, connector: WechatConnector) -> web.StreamResponse:
    connector = _verified(request, connector)
    if request.content_length is not None and request.content_length > MAX_XML_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_XML_BYTES, request.content_length)
    body = await request.read()
    encrypted = _encrypted(request, connector)
    if encrypted:
        body = _decrypt(request, connector, body)
    inbound = parse(body)
    # Whatever decides who said what: a retry of the message has the same.
    identity = request_identity(inbound.openid, inbound.account, inbound.external_id, inbound.text)
    await _first_use(request, connector, identity)
    passive = await connector.receive(inbound)
    if passive is None:
        return web.Response(text=SUCCESS)
    xml = passive.xml
    if encrypted:
        assert connector.crypto is not None
        xml = connector.crypto.reply(xml, request.query.get("nonce", ""))
    response = web.Response(text=xml, content_type="application/xml", charset="utf-8")
    try:
        written = await _write(request, response)
    except asyncio.CancelledError:  # the server cancels a handler whose client went away
        connector.unwritten(passive)
        raise
    await connector.confirm(passive, written)
    return response


def _encrypted(request: web.Request, connector: WechatConnector) -> bool:
    """Whether the post is encrypted (compatible or safe mode), by its `encrypt_type`."""
    kind = request.query.get("encrypt_type", "raw").lower()
    if kind not in ("raw", "aes"):
        raise web.HTTPBadRequest(text=f"unknown encrypt_type {kind!r}")
    if kind == "raw" and connector.settings.encryption == "safe":
        raise web.HTTPBadRequest(
            text="a plaintext post in safe mode (connectors.wechat.encryption: safe)"
        )
    if kind == "aes" and connector.crypto is None:
        raise web.HTTPBadRequest(
            text="an encrypted post, but connectors.wechat.encoding_aes_key is not set"
        )
    return kind == "aes"


def _decrypt(request: web.Request, connector: WechatConnector, body: bytes) -> bytes:
    assert connector.crypto is not None
    query = request.query
    try:
        return connector.crypto.decrypt(
            encrypted_part(body),
            query.get("msg_signature", ""),
            query.get("timestamp", ""),
            query.get("nonce", ""),
        )
    except SignatureError as exc:
        raise web.HTTPForbidden(text=f"WeChat message refused: {exc}") from None
    except CryptoError as exc:
        raise web.HTTPBadRequest(text=f"WeChat message cannot be decrypted: {exc}") from None


async def _write(request: web.Request, response: web.Response) -> bool:
    """Write the passive reply now; False if WeChat's connection is gone (the reply did not
    reach it, so it is not delivered)."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return False
    try:
        await response.prepare(request)
        await response.write_eof()
    except (ConnectionError, RuntimeError) as exc:
        log.warning("wechat: the passive reply could not be written: %r", exc)
        return False
    return True
