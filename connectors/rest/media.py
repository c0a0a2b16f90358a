"""Files on the REST channel: `POST /webhooks/rest/upload` (multipart `file`, `sender`, optional
`caption` and `message_id`) stores the customer's photo or PDF as their message `[photo] caption`
and answers the bot's replies as the webhook does; `GET /webhooks/rest/media/{id}?sender=...`
with the sender token (as for the long poll) returns a file of that sender's own conversations.
Same `media:` limits as every channel: 413 over `max_bytes`, 415 for a type not allowed."""

from __future__ import annotations

from aiohttp import web

from bot.dialogue.inbound import media_marker
from bot.errors import InputError
from bot.http.rate_limit import too_many
from bot.http.uploads import file_headers, read_upload
from bot.nlu.pipeline import validate_text
from bot.store.errors import NotFoundError
from connectors.channel import ChannelServices
from connectors.rest.auth import TOKEN_HEADER, AuthError, RestAuth
from connectors.rest.replies import _dumps, refused, render

MAX_SENDER_CHARS = 200
MAX_LANGUAGE_CHARS = 35


async def upload(request: web.Request, auth: RestAuth, services: ChannelServices) -> web.Response:
    try:
        claims = auth.check_caller(request)
    except AuthError as exc:
        return refused(str(exc))
    media = services.store.media
    form = await read_upload(
        request,
        media.limits.max_bytes,
        fields=frozenset({"sender", "caption", "message_id", "language"}),
    )
    sender = form.fields.get("sender", "")
    if not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        raise InputError(f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS}")
    subject = (claims or {}).get("sub")
    if subject is not None and subject != sender:
        return web.json_response({"message": "the JWT's 'sub' names another sender"}, status=403)
    caption = form.fields.get("caption", "")
    if caption:
        caption = validate_text(caption, services.config.nlu.max_text_chars)
    message_id = form.fields.get("message_id") or None
    # The client's language tag, as the webhook's metadata.language: a first message that is a
    # photo is acknowledged in it.
    language = form.fields.get("language") or None
    if language is not None and len(language) > MAX_LANGUAGE_CHARS:
        raise InputError('\'language\' must be a language tag such as "en" or "zh-CN"')
    if message_id is not None and len(message_id) > 200:
        raise InputError("'message_id' is longer than 200 characters")
    wait = await services.limits.customer_wait("rest", sender)
    if wait:
        return too_many(wait, "messages from this sender")
    new = await media.prepare(form.data, mime_type=form.content_type, filename=form.filename)
    marker = "photo" if new.kind == "image" else "file"
    result = await services.engine.handle(
        "rest",
        sender,
        media_marker(marker, caption),
        external_id=message_id,
        media=[new],
        language_hint=language,
    )
    token = auth.sender_token(sender)
    return web.json_response(
        render(result, sender, token),
        dumps=_dumps,
        headers={"X-Relaydesk-Status": result.status, TOKEN_HEADER: token},
    )


async def media_file(
    request: web.Request, auth: RestAuth, services: ChannelServices
) -> web.Response:
    try:
        auth.check_caller(request)
        sender = request.query.get("sender", "")
        auth.check_sender_token(
            sender, request.headers.get(TOKEN_HEADER) or request.query.get("sender_token")
        )
    except AuthError as exc:
        return refused(str(exc))
    store = services.store
    record = await store.media.get(request.match_info["media_id"])
    customer = await store.customers.find("rest", sender)
    if record is None or customer is None:
        raise web.HTTPNotFound(text="no such file")
    conv = await store.conversations.get(record.conversation_id)
    if conv.customer_id != customer.id or conv.channel != "rest":
        raise web.HTTPNotFound(text="no such file")  # the same answer: ids cannot be probed
    try:
        _, data = await store.media.read(record.id)
    except NotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    return web.Response(
        body=data,
        headers=file_headers(
            record.mime_type, record.filename or record.id, inline=record.kind == "image"
        ),
    )
