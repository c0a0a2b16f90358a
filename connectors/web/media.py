"""The widget's files: a customer uploads a photo or a PDF (multipart, `media:` limits, 413 and
415 with a clear message), which becomes their message `[photo] caption` with the file in the
media store; and the widget fetches the files of its own conversations. Both need the browser's
customer token in the X-Relaydesk-Widget-Token header (a header, not a URL: a token in a link
would leak into logs and referrers), so no file is reachable by an open URL. The widget is
embedded on other sites, so these routes answer CORS for `connectors.web.allowed_origins`."""

from __future__ import annotations

from aiohttp import web

from bot.dialogue.inbound import media_marker
from bot.errors import InputError
from bot.http.errors import keep_on_error
from bot.http.uploads import file_headers, read_upload
from bot.store.errors import NotFoundError
from bot.store.media import MediaRecord, media_ref
from connectors.channel import ChannelServices
from connectors.web.identity import CHANNEL, sender_for, valid_token
from connectors.web.settings import WebSettings

TOKEN_HEADER = "X-Relaydesk-Widget-Token"
MAX_CLIENT_ID = 64
MAX_CAPTION = 4000


def cors(request: web.Request, settings: WebSettings) -> dict[str, str]:
    """CORS headers for an allowed origin (any, when none are configured), kept on any error
    the request ends with, so the page can read why; 403 otherwise."""
    origin = request.headers.get("Origin")
    if origin is None:
        return {}
    if settings.allowed_origins and origin not in settings.allowed_origins:
        raise web.HTTPForbidden(text=f"origin {origin!r} may not embed this widget")
    return keep_on_error(
        request,
        {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Headers": f"{TOKEN_HEADER}, Content-Type",
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )


async def preflight(request: web.Request, settings: WebSettings) -> web.Response:
    return web.Response(status=204, headers=cors(request, settings))


def _sender(request: web.Request) -> str:
    token = request.headers.get(TOKEN_HEADER, "")
    if not valid_token(token):
        raise web.HTTPUnauthorized(text=f"the widget's customer token is missing ({TOKEN_HEADER})")
    return sender_for(token)


def _marker(record_kind: str) -> str:
    return "photo" if record_kind == "image" else "file"


async def upload(
    request: web.Request, services: ChannelServices, settings: WebSettings
) -> web.Response:
    """multipart/form-data: `file`, optional `caption`, `client_id` (sent again after a
    dropped connection, it is stored once) and `language` (the page's: zh or en)."""
    headers = cors(request, settings)
    sender = _sender(request)
    media = services.store.media
    wait = await services.limits.customer_wait(CHANNEL, sender)
    if wait:
        raise web.HTTPTooManyRequests(
            text=f"too many messages; try again in {max(1, round(wait))} s",
            headers={**headers, "Retry-After": str(max(1, round(wait)))},
        )
    form = await read_upload(
        request, media.limits.max_bytes, fields=frozenset({"caption", "client_id", "language"})
    )
    caption = form.fields.get("caption", "").strip()
    client_id = form.fields.get("client_id") or None
    longest = min(MAX_CAPTION, settings.max_text_chars)
    if len(caption) > longest:
        raise InputError(f"'caption' is over {longest} characters")
    if client_id is not None and len(client_id) > MAX_CLIENT_ID:
        raise InputError(f"'client_id' must be at most {MAX_CLIENT_ID} characters")
    new = await media.prepare(form.data, mime_type=form.content_type, filename=form.filename)
    text = media_marker(_marker(new.kind), caption)
    # The page's language, as in the socket's hello: a photo as the first message is
    # acknowledged in it.
    language = form.fields.get("language")
    result = await services.engine.handle(
        CHANNEL,
        sender,
        text,
        external_id=client_id,
        media=[new],
        language_hint=language if language in ("zh", "en") else None,
    )
    body = {
        "conversation_id": result.conversation_id,
        "media": media_ref(new),
        "duplicate": result.duplicate,  # a client_id stored before: not stored again
    }
    return web.json_response(body, status=201, headers=headers)


async def media_file(
    request: web.Request, services: ChannelServices, settings: WebSettings
) -> web.Response:
    """A file of the customer's own web conversations, and only theirs."""
    headers = cors(request, settings)
    sender = _sender(request)
    store = services.store
    record = await store.media.get(request.match_info["media_id"])
    customer = await store.customers.find(CHANNEL, sender)
    if record is None or customer is None or not await _owns(services, customer.id, record):
        # The same answer for "not yours" and "not there": ids cannot be probed.
        raise web.HTTPNotFound(text="no such file", headers=headers)
    try:
        _, data = await store.media.read(record.id)
    except NotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc), headers=headers) from exc
    served = file_headers(
        record.mime_type, record.filename or record.id, inline=record.kind == "image"
    )
    return web.Response(body=data, headers={**headers, **served})


async def _owns(services: ChannelServices, customer_id: str, record: MediaRecord) -> bool:
    conv = await services.store.conversations.get(record.conversation_id)
    return conv.customer_id == customer_id and conv.channel == CHANNEL
