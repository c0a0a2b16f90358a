"""The ticket queue and a ticket's work, for agents: the queue of their skill groups and their
own tickets, claim and assign, status, internal notes, progress updates the customer receives,
escalation, and the SLA report; plus the customer's follow-up page after a resolution.

    GET  /console/tickets                         the tickets page (tickets.html)
    GET  /api/tickets?view=queue|mine|all[&group=after_sales][&tier=2]
    POST /api/tickets                             {customer_id, subject, skill_group?, ...}
    GET  /api/tickets/T-1001                      the ticket, its history, SLA and follow-up
    POST /api/tickets/T-1001/claim | /assign | /status | /notes | /updates | /escalate | /details
    GET  /api/tickets/report?from=2026-12-01&to=2026-12-07      supervisors
    GET  /api/tickets/alerts, POST /api/tickets/alerts/read     the caller's alerts
    GET  /tickets/follow-up/{token}, GET|POST /api/follow-up/{token}   the customer's answers

Agents see tickets of their skill groups and those they hold; supervisors and admins see all.
Moving, updating and escalating belong to the holder (or a supervisor); assigning to someone
else to supervisors. Every console POST needs the session's CSRF header.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import clock
from bot.errors import InputError
from bot.http.json_body import read_object
from bot.store.errors import NotFoundError
from bot.store.records import AgentRecord, TicketRecord
from bot.store.tickets import TicketConflictError
from handoff.console.agent_api import dumps
from handoff.console.auth import SUPERVISORS, require_agent, require_supervisor
from handoff.console.services import CONSOLE
from handoff.tickets import sla
from handoff.tickets.desk import MOVES, TicketDesk

routes = web.RouteTableDef()
STATIC = Path(__file__).resolve().parent / "static"
NUMBER = r"{number:[Tt]-[0-9]{1,9}}"
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ASSETS = {
    "tickets.js": "text/javascript; charset=utf-8",
    "tickets.css": "text/css; charset=utf-8",
    "tickets-dashboard.js": "text/javascript; charset=utf-8",
    "follow-up.js": "text/javascript; charset=utf-8",
}
MAX_REPORT_DAYS = 366


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def _desk(request: web.Request) -> TicketDesk:
    return request.app[CONSOLE].tickets


async def _guard(coro: Any) -> Any:
    try:
        return await coro
    except NotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    except TicketConflictError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc


# -- pages -----------------------------------------------------------------------------------
def _page(name: str) -> web.FileResponse:
    return web.FileResponse(
        STATIC / name, headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"}
    )


@routes.get("/console/tickets")
async def tickets_page(request: web.Request) -> web.FileResponse:
    return _page("tickets.html")


@routes.get("/tickets/follow-up/{token}")
async def follow_up_page(request: web.Request) -> web.FileResponse:
    """The customer's follow-up form; its script reads the token from the address."""
    return _page("follow-up.html")


def _asset_handler(name: str) -> Any:
    async def asset(request: web.Request) -> web.FileResponse:
        return web.FileResponse(
            STATIC / name,
            headers={"Content-Type": ASSETS[name], "Cache-Control": "no-cache"},
        )

    return asset


for _name in ASSETS:
    routes.get(f"/console/{_name}")(_asset_handler(_name))


# -- JSON ------------------------------------------------------------------------------------
async def _names(request: web.Request) -> dict[str, AgentRecord]:
    return {a.id: a for a in await request.app[CONSOLE].store.agents.all()}


def ticket_json(
    t: TicketRecord, names: dict[str, AgentRecord], now: datetime, *, history: bool = False
) -> dict[str, Any]:
    holder = names.get(t.assigned_to or "")
    out: dict[str, Any] = {
        "number": t.number,
        "subject": t.subject,
        "status": t.status,
        "skill_group": t.skill_group,
        "tier": t.tier,
        "cross_department": t.cross_department,
        "customer_id": t.customer_id,
        "conversation_id": t.conversation_id,
        "assigned_to": (
            {"username": holder.username, "display_name": holder.display_name} if holder else None
        ),
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "escalated_at": t.escalated_at,
        "sla": sla.sla_json(t, now),
        "breached": sla.breached(t, now),
        "moves": list(MOVES.get(t.status, ())),
    }
    if history:
        out["history"] = [
            {
                "kind": e.kind,
                "status": e.status,
                "note": e.note,
                "actor": e.actor,
                "at": e.at,
                "message_id": e.message_id,
            }
            for e in t.history
        ]
    return out


async def _visible(request: web.Request, agent: AgentRecord) -> TicketRecord:
    desk = _desk(request)
    ticket: TicketRecord = await _guard(desk.store.tickets.get(request.match_info["number"]))
    if not desk.may_see(agent, ticket):
        raise web.HTTPForbidden(text="this ticket is not in your skill groups or yours")
    return ticket


async def _workable(request: web.Request, agent: AgentRecord) -> TicketRecord:
    ticket = await _visible(request, agent)
    if not _desk(request).may_work(agent, ticket):
        raise web.HTTPForbidden(text="only the agent holding this ticket, or a supervisor")
    return ticket


async def _answer(request: web.Request, ticket: TicketRecord, status: int = 200) -> web.Response:
    names = await _names(request)
    return _ok({"ticket": ticket_json(ticket, names, clock.now(), history=True)}, status)


# -- the queue -------------------------------------------------------------------------------
@routes.get("/api/tickets")
async def list_tickets(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    q = request.query
    unknown = set(q) - {"view", "group", "tier"}
    if unknown:
        raise InputError(
            f"unknown parameter(s) {', '.join(sorted(unknown))}; allowed: view, group, tier"
        )
    view, group, tier = q.get("view", "queue"), q.get("group") or None, q.get("tier")
    if view not in ("queue", "mine", "all"):
        raise InputError("view: queue, mine or all")
    if tier not in (None, "1", "2"):
        raise InputError("tier: 1 or 2")
    desk = _desk(request)
    if group is not None and group not in desk.skill_groups:
        raise InputError(f"group: one of {', '.join(sorted(desk.skill_groups))}")
    if view == "all":
        require_supervisor(agent)
        found = await desk.store.tickets.work(limit=500)
        found = [t for t in found if group is None or desk.group_of(t) == group]
    elif view == "mine":
        found = await desk.mine(agent)
    else:
        found = await desk.queue(agent, group)
    if tier is not None:
        found = [t for t in found if t.tier == int(tier)]
    names, now = await _names(request), clock.now()
    groups = sorted(desk.skill_groups) if agent.role in SUPERVISORS else list(agent.skills)
    return _ok(
        {
            "view": view,
            "tickets": [ticket_json(t, names, now) for t in found],
            "groups": groups,
            "agents": [
                {"username": a.username, "display_name": a.display_name}
                for a in names.values()
                if not a.disabled
            ],
        }
    )


@routes.post("/api/tickets")
async def create_ticket(request: web.Request) -> web.Response:
    """An agent opens a ticket for a customer (a phone call, an e-mail)."""
    agent = await require_agent(request, write=True)
    body = await read_object(
        request,
        allowed={"customer_id", "subject", "skill_group", "cross_department", "conversation_id"},
        required={"customer_id", "subject"},
    )
    customer_id, subject = body["customer_id"], body["subject"]
    if not isinstance(customer_id, str) or not 0 < len(customer_id) <= 64:
        raise InputError("'customer_id' must be a customer's id")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 500:
        raise InputError("'subject' must be a non-empty string of at most 500 characters")
    desk = _desk(request)
    group = body.get("skill_group") or desk.default_group
    if group not in desk.skill_groups:
        raise InputError(f"skill_group: one of {', '.join(sorted(desk.skill_groups))}")
    cross = body.get("cross_department", False)
    if not isinstance(cross, bool):
        raise InputError("'cross_department' must be true or false")
    conversation_id = body.get("conversation_id")
    store = desk.store
    await _guard(store.customers.get(customer_id))
    if conversation_id is not None:
        if not isinstance(conversation_id, str) or len(conversation_id) > 64:
            raise InputError("'conversation_id' must be a conversation's id")
        conv = await _guard(store.conversations.get(conversation_id))
        if conv.customer_id != customer_id:
            raise InputError("the conversation is not this customer's")
    ticket = await store.tickets.create(
        customer_id,
        subject.strip(),
        conversation_id=conversation_id,
        skill_group=group,
        actor=agent.username,
        cross_department=cross,
    )
    return await _answer(request, ticket, 201)


@routes.get("/api/tickets/report")
async def report(request: web.Request) -> web.Response:
    """SLA figures and follow-up answers for a period (UTC days, `to` included)."""
    require_supervisor(await require_agent(request))
    q = request.query
    unknown = set(q) - {"from", "to"}
    if unknown:
        raise InputError(f"unknown parameter(s) {', '.join(sorted(unknown))}; allowed: from, to")
    today = clock.now().date()
    try:
        first = datetime.fromisoformat(q.get("from") or (today - timedelta(days=29)).isoformat())
        last = datetime.fromisoformat(q.get("to") or today.isoformat())
    except ValueError as exc:
        raise InputError("from and to are dates such as 2026-12-01") from exc
    since = first.replace(tzinfo=UTC)
    until = last.replace(tzinfo=UTC) + timedelta(days=1)
    if until <= since or (until - since).days > MAX_REPORT_DAYS:
        raise InputError(f"the period must run forwards and span at most {MAX_REPORT_DAYS} days")
    result = await _desk(request).report(since, until)
    return _ok({"period": {"from": since, "to": until}, **result})


@routes.get("/api/tickets/alerts")
async def alerts(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    found = await _desk(request).alerts.of_agent(agent.id)
    return _ok(
        {
            "alerts": [asdict(a) for a in found],
            "unread": sum(1 for a in found if a.read_at is None),
        }
    )


@routes.post("/api/tickets/alerts/read")
async def alerts_read(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    return _ok({"marked": await _desk(request).alerts.mark_read(agent.id)})


# -- one ticket ------------------------------------------------------------------------------
@routes.get(f"/api/tickets/{NUMBER}")
async def one_ticket(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    ticket = await _visible(request, agent)
    desk = _desk(request)
    names, now = await _names(request), clock.now()
    out = ticket_json(ticket, names, now, history=True)
    follow_up = await desk.follow_ups.of_ticket(ticket.id)
    out["follow_up"] = (
        {
            "due_at": follow_up.due_at,
            "sent_at": follow_up.sent_at,
            "answered_at": follow_up.answered_at,
            "solved": follow_up.solved,
            "fast_enough": follow_up.fast_enough,
            "suggestions": follow_up.suggestions,
        }
        if follow_up
        else None
    )
    out["conversation"] = await desk.transcript(ticket)
    try:
        customer = await desk.store.customers.get(ticket.customer_id)
        out["customer"] = {"id": customer.id, "name": customer.name, "language": customer.language}
    except NotFoundError:
        out["customer"] = None
    return _ok({"ticket": out})


@routes.post(f"/api/tickets/{NUMBER}/claim")
async def claim(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    ticket = await _visible(request, agent)
    if agent.role not in SUPERVISORS and _desk(request).group_of(ticket) not in agent.skills:
        raise web.HTTPForbidden(text="this ticket is not in your skill groups")
    return await _answer(request, await _guard(_desk(request).claim(ticket.number, agent)))


@routes.post(f"/api/tickets/{NUMBER}/assign")
async def assign(request: web.Request) -> web.Response:
    """A supervisor gives the ticket to someone (null: back to the queue); the holder may only
    give it back."""
    agent = await require_agent(request, write=True)
    ticket = await _workable(request, agent)
    body = await read_object(request, allowed={"username"}, required={"username"})
    username = body["username"]
    if username is not None and (not isinstance(username, str) or len(username) > 64):
        raise InputError("'username' must be an agent's username, or null")
    if agent.role not in SUPERVISORS and username is not None:
        raise web.HTTPForbidden(text="only supervisors assign tickets to others")
    return await _answer(
        request, await _guard(_desk(request).assign(ticket.number, username, agent))
    )


@routes.post(f"/api/tickets/{NUMBER}/status")
async def move(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    ticket = await _workable(request, agent)
    body = await read_object(request, allowed={"status", "note"}, required={"status"})
    status, note = body["status"], body.get("note", "")
    if not isinstance(status, str) or not isinstance(note, str):
        raise InputError("'status' and 'note' must be strings")
    return await _answer(
        request, await _guard(_desk(request).move(ticket.number, status, agent, note))
    )


@routes.post(f"/api/tickets/{NUMBER}/notes")
async def note(request: web.Request) -> web.Response:
    """An internal note: anyone who may see the ticket; never sent to the customer."""
    agent = await require_agent(request, write=True)
    ticket = await _visible(request, agent)
    body = await read_object(request, allowed={"text"}, required={"text"})
    return await _answer(
        request, await _guard(_desk(request).note(ticket.number, body["text"], agent)), 201
    )


@routes.post(f"/api/tickets/{NUMBER}/updates")
async def update(request: web.Request) -> web.Response:
    """A progress update the customer receives on their channel."""
    agent = await require_agent(request, write=True)
    ticket = await _workable(request, agent)
    body = await read_object(request, allowed={"text"}, required={"text"})
    done = await _guard(_desk(request).update(ticket.number, body["text"], agent))
    names = await _names(request)
    return _ok(
        {
            "ticket": ticket_json(done.ticket, names, clock.now(), history=True),
            "message": {"id": done.message.id, "text": done.message.text, "channel": done.channel},
            "channel_window": done.window,
        },
        201,
    )


@routes.post(f"/api/tickets/{NUMBER}/escalate")
async def escalate(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    ticket = await _workable(request, agent)
    body: dict[str, Any] = {}
    if (await request.read()).strip():  # the note is optional, and so is the body
        body = await read_object(request, allowed={"note"}, required=set())
    note = body.get("note", "")
    if not isinstance(note, str):
        raise InputError("'note' must be a string")
    return await _answer(request, await _guard(_desk(request).escalate(ticket.number, agent, note)))


@routes.post(f"/api/tickets/{NUMBER}/details")
async def details(request: web.Request) -> web.Response:
    """Another skill group (back to that group's queue) or the cross-department flag (the
    resolution clock follows)."""
    agent = await require_agent(request, write=True)
    ticket = await _workable(request, agent)
    body = await read_object(request, allowed={"skill_group", "cross_department"}, required=set())
    group, cross = body.get("skill_group"), body.get("cross_department")
    if group is not None and not isinstance(group, str):
        raise InputError("'skill_group' must be a skill group's name")
    if cross is not None and not isinstance(cross, bool):
        raise InputError("'cross_department' must be true or false")
    return await _answer(
        request,
        await _guard(
            _desk(request).set_details(
                ticket.number, agent, skill_group=group, cross_department=cross
            )
        ),
    )


# -- the customer's follow-up ---------------------------------------------------------------
@routes.get("/api/follow-up/{token}")
async def follow_up_state(request: web.Request) -> web.Response:
    view = await _desk(request).follow_up_view(request.match_info["token"])
    if view is None:
        raise web.HTTPNotFound(text="this follow-up link is not valid")
    return _ok(asdict(view))


@routes.post("/api/follow-up/{token}")
async def follow_up_answer(request: web.Request) -> web.Response:
    """The customer's answers: the token in the link is the only credential (no session)."""
    token = request.match_info["token"]
    desk = _desk(request)
    if await desk.follow_up_view(token) is None:
        raise web.HTTPNotFound(text="this follow-up link is not valid")
    body = await read_object(
        request,
        allowed={"solved", "fast_enough", "suggestions"},
        required={"solved", "fast_enough"},
    )
    solved, fast, suggestions = body["solved"], body["fast_enough"], body.get("suggestions", "")
    if not isinstance(solved, bool) or not isinstance(fast, bool):
        raise InputError("'solved' and 'fast_enough' must be true or false")
    if not isinstance(suggestions, str):
        raise InputError("'suggestions' must be a string")
    view = await _guard(
        desk.answer_follow_up(token, solved=solved, fast_enough=fast, suggestions=suggestions)
    )
    if view is None:
        raise web.HTTPNotFound(text="this follow-up link is not valid")
    return _ok(asdict(view))
