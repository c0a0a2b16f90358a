"""The agents' JSON API: queue, claim, send, transfer (to a group or a named colleague),
return to bot, resolve, the transcript, the customer's profile, colleagues and knowledge
suggestions.

Callers log in through the console (a session cookie, and the CSRF header on every POST). An
agent sees the queue of their own skill groups and the conversations they hold; supervisors and
admins see everything. Every refusal carries a stable `error` word beside its message
(bot/http/errors.py), so the console says it in the agent's language.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from aiohttp import web

from bot import clock
from bot.errors import InputError
from bot.http.errors import refuse
from bot.http.json_body import read_object
from bot.http.keys import CONFIG
from bot.knowledge.base import KnowledgeError, Resolution
from bot.store.errors import NotFoundError
from bot.store.records import AgentRecord, ConversationRecord
from bot.store.sql_store import SqlStore
from handoff.console.auth import SUPERVISORS, require_agent, require_supervisor
from handoff.console.conversation_view import (
    agent_names,
    colleagues_of,
    conversation_detail,
    message_json,
)
from handoff.console.routes import agent_json
from handoff.console.services import CONSOLE
from handoff.service import HandoffError, HandoffService

routes = web.RouteTableDef()
MAX_REPLY_CHARS = 4000


def dumps(obj: Any) -> str:
    """JSON for the console's APIs: datetimes as ISO 8601, Chinese as it is."""
    return json.dumps(obj, ensure_ascii=False, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def _service(request: web.Request) -> HandoffService:
    return request.app[CONSOLE].handoff


def _store(request: web.Request) -> SqlStore:
    return _service(request).store


async def _guard(coro: Any) -> Any:
    try:
        return await coro
    except NotFoundError as exc:
        raise refuse(web.HTTPNotFound, "not_found", str(exc)) from exc
    except HandoffError as exc:
        raise refuse(web.HTTPConflict, exc.error_code, str(exc)) from exc


def sees_all(agent: AgentRecord) -> bool:
    return agent.role in SUPERVISORS


async def queue_for(store: SqlStore, agent: AgentRecord) -> list[dict[str, Any]]:
    """The waiting conversations this agent may see: their skill groups, or all."""
    items = await store.handoffs.views()
    return items if sees_all(agent) else [i for i in items if i["skill_group"] in agent.skills]


async def mine(store: SqlStore, agent: AgentRecord) -> list[dict[str, Any]]:
    return await store.handoffs.views(statuses=("assigned",), assigned_to=agent.id)


async def supervisor_view(store: SqlStore) -> dict[str, Any]:
    loads = await store.handoffs.agent_loads()
    queue = await store.handoffs.views()
    groups: dict[str, dict[str, Any]] = {}
    for item in queue:
        g = groups.setdefault(
            item["skill_group"],
            {"skill_group": item["skill_group"], "waiting": 0, "longest_wait_s": 0.0},
        )
        g["waiting"] += 1
        g["longest_wait_s"] = max(g["longest_wait_s"], item["waiting_s"])
    return {
        "agents": [{**agent_json(a), "load": loads.get(a.id, 0)} for a in await store.agents.all()],
        "groups": sorted(groups.values(), key=lambda g: g["skill_group"]),
    }


async def may_see(store: SqlStore, agent: AgentRecord, conv: ConversationRecord) -> bool:
    """Whether an agent may see a conversation: any for a supervisor; else one they hold,
    one waiting in their skill groups, or a closed one they handled."""
    if sees_all(agent):
        return True
    h = await store.handoffs.active(conv.id)
    if h is not None:
        if h.assigned_to is not None:  # held: by this agent only, not by their group
            return h.assigned_to == agent.id
        return h.skill_group in agent.skills
    return await store.handoffs.agent_may_see(agent, conv.customer_id)


async def _visible(
    request: web.Request, agent: AgentRecord, cid: str, refusal: str = "forbidden"
) -> ConversationRecord:
    """The conversation, if this agent may see it (`may_see`); 403 with `refusal` otherwise."""
    store = _store(request)
    conv: ConversationRecord = await _guard(store.conversations.get(cid))
    if await may_see(store, agent, conv):
        return conv
    raise refuse(web.HTTPForbidden, refusal, "this conversation is not in your queue or your chats")


@routes.get("/api/agent/queue")
async def queue(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    sla = request.app[CONFIG].console.first_response_sla_seconds
    return _ok({"queue": await queue_for(_store(request), agent), "sla_seconds": sla})


@routes.get("/api/agent/mine")
async def my_conversations(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    return _ok({"conversations": await mine(_store(request), agent)})


@routes.post("/api/agent/status")
async def set_status(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    body = await read_object(request, allowed={"status"}, required={"status"})
    if body["status"] not in ("online", "away"):
        raise InputError("status: online or away")
    updated = await _store(request).agents.update(agent.username, status=body["status"])
    return _ok({"agent": agent_json(updated)})


@routes.get("/api/agent/supervisor")
async def supervisor(request: web.Request) -> web.Response:
    require_supervisor(await require_agent(request))
    return _ok(await supervisor_view(_store(request)))


@routes.get("/api/agent/skill-groups")
async def skill_groups(request: web.Request) -> web.Response:
    await require_agent(request)
    return _ok({"groups": sorted(request.app[CONSOLE].admin.live.groups)})


@routes.get("/api/agent/canned")
async def canned(request: web.Request) -> web.Response:
    await require_agent(request)
    return _ok(dict(request.app[CONSOLE].canned))  # as administered now


@routes.post("/api/agent/conversations/{cid}/claim")
async def claim(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    cid = request.match_info["cid"]
    h = await _store(request).handoffs.active(cid)
    if not (sees_all(agent) or (h is not None and h.skill_group in agent.skills)):
        # A chat of their group that someone just took still gets the service's 409
        # ("already with an agent"): the clearer answer when two agents click at once.
        await _visible(request, agent, cid)
    h = await _guard(_service(request).claim(request.match_info["cid"], agent.username))
    return _ok({"handoff": asdict(h)})


@routes.post("/api/agent/conversations/{cid}/send")
async def send(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    # Someone else's chat (taken meanwhile): the agent may no longer send, whoever it is.
    await _visible(request, agent, request.match_info["cid"], refusal="not_holder")
    body = await read_object(request, allowed={"text"}, required={"text"})
    text = body["text"]
    if not isinstance(text, str) or not text.strip():
        raise InputError("'text' must be a non-empty string")
    if len(text) > MAX_REPLY_CHARS:
        raise InputError(f"'text' is over {MAX_REPLY_CHARS} characters")
    conv = await _guard(_store(request).conversations.get(request.match_info["cid"]))
    window = await _channel_window(request, conv)
    if window is not None and window["closed_because"] and not window.get("fallback"):
        # Refused before it is stored: the agent can choose another way to reach the customer.
        return web.json_response(
            {
                "message": window["closed_because"],
                "error": "window_closed",
                "channel_window": window,
            },
            status=409,
            dumps=lambda o: json.dumps(o, default=str, ensure_ascii=False),
        )
    reply = await _guard(_service(request).send(request.match_info["cid"], agent.username, text))
    message = message_json(reply.message, conv.channel, {agent.id: agent.display_name})
    return _ok({"message": message, "first_reply": reply.first_reply})


async def _holder_or_supervisor(request: web.Request) -> AgentRecord:
    """Transfer, return and resolve belong to the agent holding the chat (or a supervisor)."""
    agent = await require_agent(request, write=True)
    cid = request.match_info["cid"]
    store = _store(request)
    h = await store.handoffs.active(cid)
    if h is None:
        conv = await _guard(store.conversations.get(cid))
        ended = conv.status in ("resolved", "closed")
        raise refuse(
            web.HTTPConflict,
            "resolved" if ended else "returned",
            f"conversation {cid} is not waiting for or with an agent",
        )
    if not sees_all(agent) and h.assigned_to != agent.id:
        raise refuse(
            web.HTTPForbidden, "not_holder", "only the agent holding this chat, or a supervisor"
        )
    return agent


@routes.post("/api/agent/conversations/{cid}/transfer")
async def transfer(request: web.Request) -> web.Response:
    """To a skill group's queue (`{"skill_group"}`) or to a named colleague (`{"agent"}`,
    409 `agent_unavailable` when they are offline, away or full)."""
    agent = await _holder_or_supervisor(request)
    body = await read_object(request, allowed={"skill_group", "agent"}, required=set())
    cid = request.match_info["cid"]
    if ("skill_group" in body) == ("agent" in body):
        raise InputError("give either 'skill_group' or 'agent'")
    if "agent" in body:
        name = body["agent"]
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise InputError("'agent' must be a colleague's username")
        if name.strip() == agent.username:
            raise InputError("'agent' must be someone else")
        try:
            await _store(request).agents.get(name.strip())
        except NotFoundError as exc:
            raise InputError(f"no agent {name.strip()!r}") from exc
        h = await _guard(_service(request).transfer_to_agent(cid, name.strip()))
        return _ok({"handoff": asdict(h)})
    groups = request.app[CONSOLE].admin.live.groups  # as administered now
    if body["skill_group"] not in groups:
        raise InputError(f"skill_group: one of {', '.join(sorted(groups))}")
    h = await _guard(_service(request).transfer(cid, body["skill_group"]))
    return _ok({"handoff": asdict(h)})


@routes.get("/api/agent/colleagues")
async def colleagues(request: web.Request) -> web.Response:
    """Who a chat can be handed to: the other agents online or away, with their load."""
    agent = await require_agent(request)
    return _ok({"agents": await colleagues_of(_store(request), agent)})


@routes.post("/api/agent/conversations/{cid}/return")
async def return_to_bot(request: web.Request) -> web.Response:
    await _holder_or_supervisor(request)
    await _guard(_service(request).return_to_bot(request.match_info["cid"]))
    return _ok({"status": "bot"})


@routes.post("/api/agent/conversations/{cid}/resolve")
async def resolve(request: web.Request) -> web.Response:
    await _holder_or_supervisor(request)
    ask = await _guard(_service(request).resolve(request.match_info["cid"]))
    return _ok({"status": "resolved", "asked": ask.to_dict()})


@routes.post("/api/agent/conversations/{cid}/notes")
async def add_note(request: web.Request) -> web.Response:
    """A private note: stored with the conversation, never sent to the customer."""
    agent = await require_agent(request, write=True)
    await _visible(request, agent, request.match_info["cid"])
    body = await read_object(request, allowed={"text"}, required={"text"})
    if not isinstance(body["text"], str):
        raise InputError("'text' must be a string")
    note = await _guard(
        _store(request).notes.add(request.match_info["cid"], agent.id, body["text"])
    )
    return _ok({"note": asdict(note)}, status=201)


@routes.post("/api/agent/conversations/{cid}/draft")
async def save_draft(request: web.Request) -> web.Response:
    """Save a resolution as a knowledge draft; it is served only after review and publish."""
    agent = await require_agent(request, write=True)
    conv = await _visible(request, agent, request.match_info["cid"])
    body = await read_object(
        request, allowed={"question", "answer", "category"}, required={"question", "answer"}
    )
    question, answer = body["question"], body["answer"]
    category = body.get("category") or "service/from-conversations"
    for name, value, limit in (("question", question, 500), ("answer", answer, 8000)):
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"'{name}' must be a non-empty string")
        if len(value) > limit:
            raise InputError(f"'{name}' is over {limit} characters")
    if not isinstance(category, str) or len(category) > 100:
        raise InputError("'category' must be a short string such as service/returns")
    kb = request.app[CONSOLE].kb
    resolution = Resolution(
        question.strip(),
        answer.strip(),
        category,
        conv.language or "zh",
        conversation_id=conv.id,
        agent=agent.username,
    )
    try:
        draft = kb.create_draft(resolution)
    except KnowledgeError as exc:
        raise InputError(str(exc)) from exc
    # Credited to the agent on the review page and the dashboard (handoff/console/review_api.py).
    await _store(request).knowledge_events.record(
        draft.id,
        "contributed",
        agent_id=agent.id,
        username=agent.username,
        title=draft.title,
        version=draft.version,
    )
    return _ok({"draft": {"id": draft.id, "version": draft.version, "status": draft.status}}, 201)


@routes.get("/api/agent/conversations/{cid}")
async def transcript(request: web.Request) -> web.Response:
    """The conversation for the console: transcript, notes, customer, holder, read marks and
    the web customer's context (conversation_view.py), with the channel's window."""
    agent = await require_agent(request)
    conv = await _visible(request, agent, request.match_info["cid"])
    detail = await conversation_detail(_store(request), conv)
    detail["channel_window"] = await _channel_window(request, conv)
    return _ok(detail)


async def _channel_window(request: web.Request, conv: ConversationRecord) -> Any:
    """The channel's messaging window (WeChat's customer-service window), for a conversation on
    a channel that has one (else None)."""
    limits = request.app[CONSOLE].channel_limits.get(conv.channel)
    window = await limits.messaging_window(conv.customer_id, clock.now()) if limits else None
    return window.to_dict() if window is not None else None


@routes.get("/api/agent/customers/{customer_id}")
async def profile(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    store = _store(request)
    customer = await _guard(store.customers.get(request.match_info["customer_id"]))
    conversations = await store.conversations.of_customer(customer.id)
    if not sees_all(agent) and not await store.handoffs.agent_may_see(agent, customer.id):
        raise web.HTTPForbidden(text="this customer is not in your queue or your chats")
    channels = {c.id: c.channel for c in conversations}
    names = await agent_names(store)
    return _ok(
        {
            "customer": asdict(customer),
            "conversations": [asdict(c) for c in conversations],
            "tickets": [asdict(t) for t in await store.tickets.of_customer(customer.id)],
            "history": [
                message_json(m, channels.get(m.conversation_id), names)
                for m in await store.messages.of_customer(customer.id)
            ],
            # What the shop's systems and the widget reported (POST /api/events), newest first.
            "events": [e.to_json() for e in await store.customer_events.of_customer(customer.id)],
        }
    )
