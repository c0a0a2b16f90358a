"""How the REST channel answers: Rasa's reply list, and its 401 (shared by the webhook, the
long poll and the file routes)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.dialogue.engine import TurnResult
from bot.http.errors import error_response


def refused(message: str) -> web.Response:
    response = error_response(401, "NotAuthenticated", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="relaydesk-rest"'
    return response


def render(result: TurnResult, recipient: str, sender_token: str) -> list[dict[str, Any]]:
    custom = {**result.custom(), "sender_token": sender_token}
    seqs = result.seqs or (None,) * len(result.replies)
    return [
        {"recipient_id": recipient, **reply.to_dict(), "custom": {**custom, "seq": seq}}
        for reply, seq in zip(result.replies, seqs, strict=True)
    ]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
