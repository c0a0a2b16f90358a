"""Rasa's REST channel, unchanged for its clients: POST /webhooks/rest/webhook with
{"sender", "message"} returns [{"recipient_id", "text", ...}].

Every reply also carries Rasa's `custom` payload with the conversation's state. While an agent
(or the queue) holds the conversation the bot sends nothing: the answer is `[]`, and the state
is in the `X-Relaydesk-Status` header (the agent's reply reaches the customer on their channel).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.dialogue.engine import TurnResult
from bot.errors import InputError
from bot.nlu.pipeline import validate_text
from bot.server.json_body import read_object
from bot.server.keys import CONFIG
from bot.server.runtime import RUNTIME

MAX_SENDER_CHARS = 200
routes = web.RouteTableDef()


@routes.post("/webhooks/rest/webhook")
async def webhook(request: web.Request) -> web.Response:
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
    message = body["message"]
    if not isinstance(message, str):
        raise InputError(f"'message' must be a string, got {type(message).__name__}")
    text = validate_text(message, request.app[CONFIG].nlu.max_text_chars)
    message_id = body.get("message_id")
    if message_id is not None and not isinstance(message_id, str):
        raise InputError("'message_id' must be a string")
    engine = request.app[RUNTIME].engine
    if engine is None:
        raise web.HTTPServiceUnavailable(text="the dialogue engine is starting; try again")
    result = await engine.handle("rest", sender, text, external_id=message_id)
    return web.json_response(
        render(result, sender), dumps=_dumps, headers={"X-Relaydesk-Status": result.status}
    )


def render(result: TurnResult, recipient: str) -> list[dict[str, Any]]:
    custom = result.custom()
    return [
        {"recipient_id": recipient, **reply.to_dict(), "custom": custom} for reply in result.replies
    ]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
