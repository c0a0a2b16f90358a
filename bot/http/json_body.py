"""Reading a JSON request body strictly: a clear 400 for anything that is not what we expect."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from bot.errors import InputError


async def read_object(
    request: web.Request, allowed: set[str] | None, required: set[str]
) -> dict[str, Any]:
    """The body as a JSON object; `allowed` None accepts any field (a third party's format
    that grows over time, such as Telegram's updates)."""
    raw = await request.read()  # aiohttp enforces client_max_size here (413)
    if not raw.strip():
        raise InputError("request body is empty; send a JSON object")
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError("request body is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"request body is not valid JSON: {exc.msg} at position {exc.pos}"
        ) from exc
    if not isinstance(body, dict):
        raise InputError(f"request body must be a JSON object, got {type(body).__name__}")
    missing = required - body.keys()
    if missing:
        raise InputError(f"missing field(s): {', '.join(sorted(missing))}")
    unknown = body.keys() - allowed if allowed is not None else set()
    if unknown and allowed is not None:
        raise InputError(
            f"unknown field(s): {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
        )
    return body
