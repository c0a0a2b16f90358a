"""Customer profiles for agents: contact details, tags, segments, the shop's orders.

An agent reads and edits the profile of a customer they may see (one in their queue or their
chats, as for the transcript); supervisors and admins any. Every edit is recorded with the
agent's username (bot/store/profiles.py). The segment overview and a recomputation on demand
are for supervisors. POSTs carry the session's CSRF header like every console write.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from bot.errors import InputError
from bot.http.json_body import read_object
from bot.store.errors import NotFoundError
from bot.store.profiles import MAX_TAGS, PROFILE_FIELDS, SegmentSummary
from bot.store.records import AgentRecord, CustomerRecord
from bot.store.sql_store import SqlStore
from handoff.console.agent_api import dumps, sees_all
from handoff.console.auth import require_agent, require_supervisor
from handoff.console.services import CONSOLE

routes = web.RouteTableDef()
PROFILE = "/api/agent/customers/{customer_id}/profile"
TAGS = "/api/agent/customers/{customer_id}/tags"
RECENT_ORDERS = 10
RECENT_CHANGES = 10


def _ok(data: Any) -> web.Response:
    return web.json_response(data, dumps=dumps)


def _store(request: web.Request) -> SqlStore:
    return request.app[CONSOLE].store


async def _customer(request: web.Request, agent: AgentRecord) -> CustomerRecord:
    """The customer the path names, if this agent may see them: 404 / 403 otherwise."""
    store = _store(request)
    try:
        customer = await store.customers.get(request.match_info["customer_id"])
    except NotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    if not sees_all(agent) and not await store.handoffs.agent_may_see(agent, customer.id):
        raise web.HTTPForbidden(text="this customer is not in your queue or your chats")
    return customer


def customer_json(c: CustomerRecord) -> dict[str, Any]:
    return {**asdict(c), "all_tags": list(c.all_tags)}


def summary_json(s: SegmentSummary | None) -> dict[str, Any] | None:
    return asdict(s) if s is not None else None


@routes.get(PROFILE)
async def profile(request: web.Request) -> web.Response:
    """The profile with up-to-date segments, the shop's recent orders and the recent edits."""
    agent = await require_agent(request)
    customer = await _customer(request, agent)
    store = _store(request)
    fresh = await store.profiles.refresh(customer.id)
    orders = await store.shop_orders.of_customer(customer.id, RECENT_ORDERS)
    return _ok(
        {
            "customer": customer_json(fresh),
            "identities": [
                {"channel": ch, "external_id": ext}
                for ch, ext in await store.profiles.identities(customer.id)
            ],
            "orders": [asdict(o) for o in orders],
            "changes": [
                asdict(c) for c in await store.profiles.changes(customer.id, RECENT_CHANGES)
            ],
            "segments": summary_json(await store.profiles.summary()),
            "editable": list(PROFILE_FIELDS),
            "max_tags": MAX_TAGS,
            "priority_boost": store.profiles.priority_boost(fresh),
        }
    )


@routes.post(PROFILE)
async def edit_profile(request: web.Request) -> web.Response:
    """Set name, email, phone, region or language; null or "" clears one."""
    agent = await require_agent(request, write=True)
    customer = await _customer(request, agent)
    body = await read_object(request, allowed=set(PROFILE_FIELDS), required=set())
    if not body:
        raise InputError(f"nothing to change; send any of {', '.join(PROFILE_FIELDS)}")
    updated = await _store(request).profiles.edit(customer.id, agent.username, body)
    return _ok({"customer": customer_json(updated)})


@routes.post(TAGS)
async def change_tags(request: web.Request) -> web.Response:
    """{"add": [...], "remove": [...]}: agents' tags (the computed ones cannot be set)."""
    agent = await require_agent(request, write=True)
    customer = await _customer(request, agent)
    body = await read_object(request, allowed={"add", "remove"}, required=set())
    add, remove = body.get("add", []), body.get("remove", [])
    for name, value in (("add", add), ("remove", remove)):
        if not isinstance(value, list) or len(value) > MAX_TAGS:
            raise InputError(f"{name}: a list of at most {MAX_TAGS} tags")
    if not add and not remove:
        raise InputError("nothing to change; send add and/or remove")
    updated = await _store(request).profiles.change_tags(
        customer.id, agent.username, add=add, remove=remove
    )
    return _ok({"customer": customer_json(updated)})


@routes.get("/api/agent/segments")
async def segments(request: web.Request) -> web.Response:
    """The last segmentation run: when, thresholds, how many customers in each segment."""
    require_supervisor(await require_agent(request))
    return _ok({"segments": summary_json(await _store(request).profiles.summary())})


@routes.post("/api/agent/segments/recompute")
async def recompute(request: web.Request) -> web.Response:
    """Segment every customer now (after rules changed, or to check an import)."""
    require_supervisor(await require_agent(request, write=True))
    return _ok({"segments": summary_json(await _store(request).profiles.recompute())})
