"""What the console shows of a conversation and of the team, as JSON: the transcript with
agents by display name, notes signed by their author's name, the customer with their contact
details, who holds the chat, how far each side has read, the web customer's page and browser,
and the colleagues a chat can be handed to. Read-only: the routes that change things are in
agent_api.py."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.store.records import AgentRecord, ConversationRecord
from bot.store.sql_store import SqlStore
from bot.store.tables import PUSHED_CHANNELS

COLLEAGUE_STATUSES = ("online", "away")


def message_json(
    msg: Any, channel: str | None = None, agents: dict[str, str] | None = None
) -> dict[str, Any]:
    """A stored message for the console; `agent` is the display name of the agent who sent it
    (`agents`: display names by agent id)."""
    out = asdict(msg)
    out.pop("duplicate", None)
    out["channel"] = channel
    out["agent"] = (agents or {}).get(msg.sender_id) if msg.sender == "agent" else None
    return out


async def agent_names(store: SqlStore) -> dict[str, str]:
    return {a.id: a.display_name for a in await store.agents.all()}


def suggestion_json(hit: dict[str, Any]) -> dict[str, Any]:
    return {
        "article_id": hit.get("id"),
        "version": hit.get("version"),
        "title": hit.get("title"),
        "snippet": hit.get("matched", ""),
        "score": hit.get("score"),
    }


async def conversation_detail(store: SqlStore, conv: ConversationRecord) -> dict[str, Any]:
    """GET /api/agent/conversations/{cid} (docs/web-protocol.md), without the channel window
    (the route adds it: it needs the channels' rules)."""
    messages = await store.messages.of(conv.id)
    handoff = await store.handoffs.active(conv.id)
    team = {a.id: a for a in await store.agents.all()}
    names = {i: a.display_name for i, a in team.items()}
    out = [message_json(m, conv.channel, names) for m in messages]
    if conv.channel in PUSHED_CHANNELS:  # did each message reach the customer's app?
        states = await store.deliveries.states(conv.id)
        for item in out:
            state = states.get(item["id"])
            item["delivery"] = asdict(state) if state else None
    customer = await store.customers.get(conv.customer_id)
    holder = team.get(handoff.assigned_to) if handoff and handoff.assigned_to else None
    web_context = await store.web_context.latest(customer.id)
    contact = {"email": customer.email, "phone": customer.phone}
    return {
        "conversation": asdict(conv),
        "messages": out,
        "notes": [
            {**asdict(n), "author_name": names.get(n.agent_id) if n.agent_id else None}
            for n in await store.notes.of(conv.id)
        ],
        "suggestions": [suggestion_json(h) for h in conv.state.get("suggestions", [])],
        "customer": {**asdict(customer), "contact": contact if any(contact.values()) else None},
        "handoff": asdict(handoff) if handoff else None,
        "holder": (
            {"username": holder.username, "display_name": holder.display_name} if holder else None
        ),
        "read_marks": {
            reader: marks.to_json()
            for reader, marks in (await store.read_marks.get(conv.id)).items()
        },
        "web_context": web_context.to_json() if web_context else None,
    }


async def colleagues_of(store: SqlStore, agent: AgentRecord) -> list[dict[str, Any]]:
    """GET /api/agent/colleagues: the other enabled agents online or away, with their load,
    online first, then by display name."""
    loads = await store.handoffs.agent_loads()
    others = [
        a
        for a in await store.agents.all()
        if a.id != agent.id and not a.disabled and a.status in COLLEAGUE_STATUSES
    ]
    others.sort(key=lambda a: (a.status != "online", a.display_name.lower()))
    return [
        {
            "username": a.username,
            "display_name": a.display_name,
            "status": a.status,
            "load": loads.get(a.id, 0),
            "max_concurrent": a.max_concurrent,
            "skills": list(a.skills),
        }
        for a in others
    ]
