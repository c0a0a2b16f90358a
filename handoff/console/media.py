"""Files in the console: an agent sees a conversation's images and files (only those of a
conversation they may see; there are no open URLs), and attaches an image or a PDF to a reply,
which the customer's channel delivers (a photo on Telegram, an image in the widget, a text note
where a channel cannot show it yet). The limits are config.yml's `media:`, as on every channel."""

from __future__ import annotations

import json

from aiohttp import web

from bot.errors import InputError
from bot.http.uploads import file_headers, read_upload
from bot.store.errors import NotFoundError
from bot.store.media import MediaRecord
from handoff.console.agent_api import (
    MAX_REPLY_CHARS,
    _channel_window,
    _guard,
    _ok,
    _service,
    _store,
    _visible,
)
from handoff.console.auth import require_agent
from handoff.console.conversation_view import message_json

routes = web.RouteTableDef()


def media_headers(record: MediaRecord) -> dict[str, str]:
    return file_headers(
        record.mime_type, record.filename or record.id, inline=record.kind == "image"
    )


@routes.get("/api/media/{media_id}")
async def media_file(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    store = _store(request)
    record = await store.media.get(request.match_info["media_id"])
    if record is None:
        raise web.HTTPNotFound(text="no such file")
    await _visible(request, agent, record.conversation_id)  # 403 unless they may see it
    try:
        _, data = await store.media.read(record.id)
    except NotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    return web.Response(body=data, headers=media_headers(record))


@routes.post("/api/agent/conversations/{cid}/attachments")
async def attach(request: web.Request) -> web.Response:
    """multipart/form-data: `file`, and optionally `text` (sent with it as its caption)."""
    agent = await require_agent(request, write=True)
    cid = request.match_info["cid"]
    await _visible(request, agent, cid)
    store = _store(request)
    upload = await read_upload(request, store.media.limits.max_bytes, fields=frozenset({"text"}))
    text = upload.fields.get("text", "").strip()
    if len(text) > MAX_REPLY_CHARS:
        raise InputError(f"'text' is over {MAX_REPLY_CHARS} characters")
    conv = await _guard(store.conversations.get(cid))
    window = await _channel_window(request, conv)
    if window is not None and window["closed_because"]:
        return web.json_response(
            {
                "message": window["closed_because"],
                "error": "window_closed",
                "channel_window": window,
            },
            status=409,
            dumps=lambda o: json.dumps(o, default=str, ensure_ascii=False),
        )
    new = await store.media.prepare(
        upload.data, mime_type=upload.content_type, filename=upload.filename
    )
    reply = await _guard(_service(request).send(cid, agent.username, text, media=new))
    message = message_json(reply.message, conv.channel, {agent.id: agent.display_name})
    return _ok({"message": message, "first_reply": reply.first_reply}, status=201)
