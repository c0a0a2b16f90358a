"""The agents' JSON API: queue, claim, send, transfer, return to bot, resolve, the transcript,
the customer's profile and knowledge suggestions.

Until the console brings logins (issue #5) this is a development API: it is mounted only when
`server.dev_agent_api` is true, and the acting agent is named by the X-Relaydesk-Agent header.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.errors import InputError
from bot.server.json_body import read_object
from bot.server.runtime import RUNTIME
from bot.store.sql_store import NotFoundError
from handoff.service import HandoffError, HandoffService

routes = web.RouteTableDef()
MAX_REPLY_CHARS = 4000


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _agent(request: web.Request) -> str:
    name = request.headers.get("X-Relaydesk-Agent", "").strip()
    if not name:
        raise web.HTTPUnauthorized(text="name the agent in the X-Relaydesk-Agent header")
    return name


def _service(request: web.Request) -> HandoffService:
    runtime = request.app[RUNTIME]
    if runtime.handoff is None:
        raise web.HTTPServiceUnavailable(text="starting up; try again")
    return runtime.handoff


async def _guard(coro: Any) -> Any:
    try:
        return await coro
    except NotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    except HandoffError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc


@routes.get("/api/agent/queue")
async def queue(request: web.Request) -> web.Response:
    _agent(request)
    store = _service(request).store
    return _ok({"queue": [asdict(h) for h in await store.queued_handoffs()]})


@routes.post("/api/agent/conversations/{cid}/claim")
async def claim(request: web.Request) -> web.Response:
    h = await _guard(_service(request).claim(request.match_info["cid"], _agent(request)))
    return _ok({"handoff": asdict(h)})


@routes.post("/api/agent/conversations/{cid}/send")
async def send(request: web.Request) -> web.Response:
    agent = _agent(request)
    body = await read_object(request, allowed={"text"}, required={"text"})
    text = body["text"]
    if not isinstance(text, str) or not text.strip():
        raise InputError("'text' must be a non-empty string")
    if len(text) > MAX_REPLY_CHARS:
        raise InputError(f"'text' is over {MAX_REPLY_CHARS} characters")
    reply = await _guard(_service(request).send(request.match_info["cid"], agent, text))
    return _ok({"message": asdict(reply.message), "first_reply": reply.first_reply})


@routes.post("/api/agent/conversations/{cid}/transfer")
async def transfer(request: web.Request) -> web.Response:
    _agent(request)
    body = await read_object(request, allowed={"skill_group"}, required={"skill_group"})
    groups = request.app[RUNTIME].engine.router.settings.skill_groups  # type: ignore[union-attr]
    if body["skill_group"] not in groups:
        raise InputError(f"skill_group: one of {', '.join(sorted(groups))}")
    h = await _guard(_service(request).transfer(request.match_info["cid"], body["skill_group"]))
    return _ok({"handoff": asdict(h)})


@routes.post("/api/agent/conversations/{cid}/return")
async def return_to_bot(request: web.Request) -> web.Response:
    _agent(request)
    await _guard(_service(request).return_to_bot(request.match_info["cid"]))
    return _ok({"status": "bot"})


@routes.post("/api/agent/conversations/{cid}/resolve")
async def resolve(request: web.Request) -> web.Response:
    _agent(request)
    ask = await _guard(_service(request).resolve(request.match_info["cid"]))
    return _ok({"status": "resolved", "asked": ask.to_dict()})


@routes.post("/api/agent/conversations/{cid}/notes")
async def add_note(request: web.Request) -> web.Response:
    """A private note: stored with the conversation, never sent to the customer."""
    store = _service(request).store
    agent = await _guard(store.agent(_agent(request)))
    body = await read_object(request, allowed={"text"}, required={"text"})
    if not isinstance(body["text"], str):
        raise InputError("'text' must be a string")
    note = await _guard(store.add_note(request.match_info["cid"], agent.id, body["text"]))
    return _ok({"note": asdict(note)}, status=201)


@routes.get("/api/agent/conversations/{cid}")
async def transcript(request: web.Request) -> web.Response:
    _agent(request)
    store = _service(request).store
    conv = await _guard(store.conversation(request.match_info["cid"]))
    messages = await store.messages(conv.id)
    return _ok(
        {
            "conversation": asdict(conv),
            "messages": [asdict(m) for m in messages],
            "notes": [asdict(n) for n in await store.notes(conv.id)],
            "suggestions": conv.state.get("suggestions", []),
        }
    )


@routes.get("/api/agent/customers/{customer_id}")
async def profile(request: web.Request) -> web.Response:
    _agent(request)
    store = _service(request).store
    customer = await _guard(store.customer(request.match_info["customer_id"]))
    conversations = await store.conversations_of(customer.id)
    return _ok(
        {
            "customer": asdict(customer),
            "conversations": [asdict(c) for c in conversations],
            "history": [asdict(m) for m in await store.customer_messages(customer.id)],
        }
    )
