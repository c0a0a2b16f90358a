"""Who is calling the agent API: the console's session cookie, with the CSRF header on every
state-changing request. The development flag `server.dev_agent_api` also accepts an agent named
in the X-Relaydesk-Agent header, for scripts; never on a reachable host."""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.http.keys import CONFIG
from bot.store.errors import NotFoundError
from bot.store.records import AgentRecord
from handoff.console.services import CONSOLE

COOKIE = "relaydesk_session"
CSRF_HEADER = "X-CSRF-Token"
SUPERVISORS = ("supervisor", "admin")


async def current_agent(request: web.Request) -> tuple[AgentRecord, str] | None:
    """The logged-in agent and their CSRF token, or None."""
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    return await request.app[CONSOLE].accounts.session(token)


async def require_agent(request: web.Request, *, write: bool = False) -> AgentRecord:
    found = await current_agent(request)
    if found is not None:
        agent, csrf = found
        if write and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), csrf):
            raise web.HTTPForbidden(text=f"missing or wrong {CSRF_HEADER} header")
        return agent
    if request.app[CONFIG].server.dev_agent_api:
        name = request.headers.get("X-Relaydesk-Agent", "").strip()
        store = request.app[CONSOLE].store
        if name:
            try:
                agent = await store.agents.get(name)
            except NotFoundError as exc:
                raise web.HTTPUnauthorized(text=str(exc)) from exc
            if not agent.disabled:
                return agent
    raise web.HTTPUnauthorized(text="log in at /console first")


def require_supervisor(agent: AgentRecord) -> None:
    if agent.role not in SUPERVISORS:
        raise web.HTTPForbidden(text="supervisors and admins only")
