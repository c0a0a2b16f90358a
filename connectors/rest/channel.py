"""Rasa's REST channel, unchanged for its clients: POST /webhooks/rest/webhook with
{"sender", "message"} returns [{"recipient_id", "text", ...}].

Every reply also carries Rasa's `custom` payload with the conversation's state and the message's
sequence number. While an agent (or the queue) holds the conversation the bot sends nothing: the
answer is `[]`, and the state is in the `X-Relaydesk-Status` header. What reaches the customer
outside a reply (the agent's messages, queue-position updates, the rating request) is fetched
with `GET /webhooks/rest/messages?sender=...&after=SEQ&wait=25`, a long poll.

The webhook takes the optional shared secret or HS256 JWT of `connectors.rest.auth`; the long
poll also needs the sender token every webhook answer hands out (the `X-Relaydesk-Sender-Token`
header and each reply's `custom.sender_token`), so naming a sender is not enough to read their
conversation (connectors/rest/auth.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web

from bot.config import Config
from bot.errors import InputError
from bot.http.errors import error_response
from bot.http.json_body import read_object
from bot.http.rate_limit import too_many
from bot.nlu.pipeline import validate_text
from bot.store.records import MessageRecord
from bot.store.sql_store import SqlStore
from connectors.channel import Channel, ChannelServices
from connectors.rest import media as rest_media
from connectors.rest.auth import TOKEN_HEADER, AuthError, RestAuth
from connectors.rest.replies import _dumps, refused, render
from connectors.rest.settings import RestSettings
from connectors.settings import ChannelSettings

log = logging.getLogger(__name__)
MAX_SENDER_CHARS = 200
MAX_WAIT_S = 25  # under common proxies' 30 s idle timeout


class RestChannel(Channel):
    name = "rest"
    label = "REST"
    settings_model = RestSettings

    def __init__(self, config: Config, settings: ChannelSettings) -> None:
        super().__init__(config, settings)
        assert isinstance(settings, RestSettings)
        self.auth = RestAuth(settings)

    async def start(self, services: ChannelServices) -> None:
        await super().start(services)
        settings = self.settings
        assert isinstance(settings, RestSettings)
        if services.config.server.redis_url and not (
            settings.sender_token_secret or settings.secret
        ):
            log.warning(
                "connectors.rest.sender_token_secret is unset: each instance signs sender tokens "
                "with its own key, so a long poll fails on another instance; set it"
            )

    def routes(self) -> web.RouteTableDef:
        routes = web.RouteTableDef()
        routes.post("/webhooks/rest/webhook")(self.webhook)
        routes.get("/webhooks/rest/messages")(self.messages)
        routes.post("/webhooks/rest/upload")(self.upload)
        routes.get("/webhooks/rest/media/{media_id}")(self.media_file)
        return routes

    async def upload(self, request: web.Request) -> web.Response:
        return await rest_media.upload(request, self.auth, self.services)

    async def media_file(self, request: web.Request) -> web.Response:
        return await rest_media.media_file(request, self.auth, self.services)

    async def webhook(self, request: web.Request) -> web.Response:
        return await webhook(request, self)

    async def messages(self, request: web.Request) -> web.Response:
        return await messages(request, self)


CHANNEL = RestChannel


async def webhook(request: web.Request, channel: RestChannel) -> web.Response:
    try:
        claims = channel.auth.check_caller(request)
    except AuthError as exc:
        return refused(str(exc))
    body = await read_object(
        request,
        allowed={"sender", "message", "metadata", "message_id"},
        required={"sender", "message"},
    )
    sender = body["sender"]
    if not isinstance(sender, str) or not sender.strip():
        raise InputError("'sender' must be a non-empty string")
    if len(sender) > MAX_SENDER_CHARS:
        raise InputError(f"'sender' is longer than {MAX_SENDER_CHARS} characters")
    subject = (claims or {}).get("sub")
    if subject is not None and subject != sender:  # a JWT issued for one sender speaks for it
        return error_response(403, "Forbidden", "the JWT's 'sub' names another sender")
    message = body["message"]
    if not isinstance(message, str):
        raise InputError(f"'message' must be a string, got {type(message).__name__}")
    services = channel.services
    text = validate_text(message, services.config.nlu.max_text_chars)
    message_id = body.get("message_id")
    if message_id is not None and not isinstance(message_id, str):
        raise InputError("'message_id' must be a string")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InputError("'metadata' must be an object")
    language = (metadata or {}).get("language")  # the client's language tag, e.g. "zh-CN"
    if language is not None and (not isinstance(language, str) or len(language) > 35):
        raise InputError('\'metadata.language\' must be a language tag such as "en" or "zh-CN"')
    wait = await services.limits.customer_wait("rest", sender)
    if wait:  # not stored: the client sends it again after the wait
        return too_many(wait, "messages from this sender")
    result = await services.engine.handle(
        "rest", sender, text, external_id=message_id, language_hint=language
    )
    token = channel.auth.sender_token(sender)
    return web.json_response(
        render(result, sender, token),
        dumps=_dumps,
        headers={"X-Relaydesk-Status": result.status, TOKEN_HEADER: token},
    )


async def messages(request: web.Request, channel: RestChannel) -> web.Response:
    """What reached the customer outside a reply: agent messages, queue updates, the rating
    request. `after` is the last `seq` the client has; with `wait` (seconds, up to 25) the
    request is held until something new arrives (long polling)."""
    try:
        channel.auth.check_caller(request)
    except AuthError as exc:
        return refused(str(exc))
    q = request.query
    unknown = set(q) - {"sender", "after", "wait", "sender_token", "token"}
    if unknown:
        raise InputError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    sender = q.get("sender", "")
    if not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        raise InputError(f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS}")
    after = _int_param(q, "after", 0, 0, 2**31)
    wait = _int_param(q, "wait", 0, 0, MAX_WAIT_S)
    try:
        channel.auth.check_sender_token(
            sender, request.headers.get(TOKEN_HEADER) or q.get("sender_token")
        )
    except AuthError as exc:
        return refused(str(exc))
    fresh = {TOKEN_HEADER: channel.auth.sender_token(sender)}
    store = channel.services.store
    customer = await store.customers.find("rest", sender)
    conv = await store.conversations.latest(customer.id, "rest") if customer else None
    if conv is None:
        return web.json_response([], headers=fresh)
    arrived = asyncio.Event()
    unsubscribe = store.bus.subscribe(lambda _e: arrived.set(), conv.id)
    try:
        found = await _outbound(store, conv.id, after)
        if not found and wait:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await arrived.wait()
            found = await _outbound(store, conv.id, after)
    finally:
        unsubscribe()
    return web.json_response(
        [
            {
                "recipient_id": sender,
                "text": msg.text,
                **{k: v for k, v in msg.payload.items() if k != "text"},
                "custom": {"seq": msg.seq, "sender": msg.sender, "conversation_id": conv.id},
            }
            for msg in found
        ],
        dumps=_dumps,
        headers=fresh,
    )


async def _outbound(store: SqlStore, conversation_id: str, after: int) -> list[MessageRecord]:
    return [m for m in await store.messages.of(conversation_id, after) if m.sender != "customer"]


def _int_param(query: Any, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"'{name}' must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise InputError(f"'{name}' must be between {low} and {high}")
    return value
