"""Administration for supervisors and admins: agents, skill groups, service hours, holidays,
canned responses, and the audit log; the page at /console/admin and its JSON API.

Every route checks the session (and the CSRF header on POSTs) and the caller's role on the
server; the rules per role are handoff/console/administration.py's. Bodies are size-limited by the
app and validated field by field; a bad field is a 400 that names it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.errors import InputError
from bot.http.json_body import read_object
from bot.store.errors import NotFoundError
from bot.store.records import AgentRecord
from handoff.console.administration import (
    MAX_CHATS,
    ROLES,
    Actor,
    Administration,
    AdminPermissionError,
)
from handoff.console.agent_api import dumps
from handoff.console.auth import require_agent
from handoff.console.routes import _page_headers
from handoff.console.services import CONSOLE

STATIC = Path(__file__).resolve().parent / "static"
routes = web.RouteTableDef()
AGENT_FIELDS = {"display_name", "role", "skills", "languages", "max_concurrent", "status"}
NEW_AGENT_FIELDS = AGENT_FIELDS - {"status"} | {"username", "password"}
GROUP_FIELDS = {"intents", "categories", "languages", "hours", "display_name"}


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def admin_agent_json(agent: AgentRecord) -> dict[str, Any]:
    return {**asdict(agent), "skills": list(agent.skills), "languages": list(agent.languages)}


async def _caller(request: web.Request, *, write: bool = False) -> tuple[Administration, Actor]:
    agent = await require_agent(request, write=write)
    return request.app[CONSOLE].admin, Actor.of(agent)


async def _guard(coro: Any) -> Any:
    """The service's refusals as HTTP answers: 403 for a role, 404 for a missing record
    (InputError becomes 400 in the app's error middleware)."""
    try:
        return await coro
    except AdminPermissionError as exc:
        raise web.HTTPForbidden(text=str(exc)) from exc
    except NotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc


def _int(value: str, what: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise InputError(f"{what}: a positive whole number")
    return int(value)


# -- the page ------------------------------------------------------------------------------------
@routes.get("/console/admin")
async def page(request: web.Request) -> web.FileResponse:
    """The page itself is public like /console: it asks for a login and reads with the session."""
    return web.FileResponse(STATIC / "admin.html", headers=_page_headers())


@routes.get("/console/admin/{name:admin\\.(js|css)}")
async def asset(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / request.match_info["name"], headers=_page_headers())


# -- agents --------------------------------------------------------------------------------------
@routes.get("/api/admin/agents")
async def list_agents(request: web.Request) -> web.Response:
    admin, actor = await _caller(request)
    agents = await _guard(admin.agents(actor))
    return _ok(
        {
            "agents": [admin_agent_json(a) for a in agents],
            "roles": list(ROLES),
            "max_concurrent": MAX_CHATS,
            "me": {"username": actor.name, "role": actor.role},
        }
    )


@routes.post("/api/admin/agents")
async def add_agent(request: web.Request) -> web.Response:
    admin, actor = await _caller(request, write=True)
    body = await read_object(request, allowed=NEW_AGENT_FIELDS, required={"username"})
    agent = await _guard(
        admin.add_agent(
            actor,
            body["username"],
            display_name=body.get("display_name"),
            role=body.get("role", "agent"),
            skills=body.get("skills", []),
            languages=body.get("languages", ["zh", "en"]),
            max_concurrent=body.get("max_concurrent", 3),
            password=body.get("password"),
        )
    )
    return _ok({"agent": admin_agent_json(agent)}, status=201)


@routes.post("/api/admin/agents/{username}")
async def update_agent(request: web.Request) -> web.Response:
    admin, actor = await _caller(request, write=True)
    body = await read_object(request, allowed=AGENT_FIELDS, required=set())
    agent = await _guard(admin.update_agent(actor, request.match_info["username"], **body))
    return _ok({"agent": admin_agent_json(agent)})


@routes.post("/api/admin/agents/{username}/disable")
async def disable_agent(request: web.Request) -> web.Response:
    admin, actor = await _caller(request, write=True)
    agent = await _guard(admin.set_disabled(actor, request.match_info["username"], True))
    return _ok({"agent": admin_agent_json(agent)})


@routes.post("/api/admin/agents/{username}/enable")
async def enable_agent(request: web.Request) -> web.Response:
    admin, actor = await _caller(request, write=True)
    agent = await _guard(admin.set_disabled(actor, request.match_info["username"], False))
    return _ok({"agent": admin_agent_json(agent)})


@routes.post("/api/admin/agents/{username}/password")
async def reset_password(request: web.Request) -> web.Response:
    """A new password from the body, or (an empty object) one made up and shown once."""
    admin, actor = await _caller(request, write=True)
    body = await read_object(request, allowed={"password"}, required=set())
    made = await _guard(
        admin.reset_password(actor, request.match_info["username"], body.get("password"))
    )
    return _ok({"password": made, "sessions_ended": True})


# -- skill groups, hours, holidays, canned responses ---------------------------------------------
@routes.get("/api/admin/settings")
async def settings(request: web.Request) -> web.Response:
    admin, actor = await _caller(request)
    try:
        admin.require(actor, "holidays")  # supervisors and admins read every setting
    except AdminPermissionError as exc:
        raise web.HTTPForbidden(text=str(exc)) from exc
    snap = admin.live.snapshot
    return _ok(
        {
            "version": snap.version,
            "groups": [{"name": n, **g.model_dump()} for n, g in snap.groups.items()],
            "default_group": admin.handoff.default_group,
            "overflow_group": admin.handoff.overflow_group,
            "timezone": admin.handoff.timezone,
            "holidays": [asdict(h) for h in snap.holidays],
            "canned": [asdict(c) for c in snap.canned],
            "may_edit_groups": actor.role == "admin",
        }
    )


@routes.post("/api/admin/groups/{name}")
async def put_group(request: web.Request) -> web.Response:
    """Create a group or replace its fields (hours included)."""
    admin, actor = await _caller(request, write=True)
    body = await read_object(request, allowed=GROUP_FIELDS, required=set())
    created = await _guard(admin.put_group(actor, request.match_info["name"], body))
    return _ok({"created": created, "version": admin.live.snapshot.version})


@routes.post("/api/admin/groups/{name}/delete")
async def delete_group(request: web.Request) -> web.Response:
    admin, actor = await _caller(request, write=True)
    await _guard(admin.delete_group(actor, request.match_info["name"]))
    return _ok({"deleted": request.match_info["name"]})


@routes.post("/api/admin/holidays")
async def add_holiday(request: web.Request) -> web.Response:
    admin, actor = await _caller(request, write=True)
    body = await read_object(
        request, allowed={"day", "name", "skill_group", "hours"}, required={"day", "name"}
    )
    holiday = await _guard(
        admin.add_holiday(
            actor, body["day"], body["name"], body.get("skill_group"), body.get("hours")
        )
    )
    return _ok({"holiday": asdict(holiday)}, status=201)


@routes.post("/api/admin/holidays/{id}/delete")
async def delete_holiday(request: web.Request) -> web.Response:
    admin, actor = await _caller(request, write=True)
    await _guard(admin.delete_holiday(actor, _int(request.match_info["id"], "id")))
    return _ok({"deleted": int(request.match_info["id"])})


@routes.post("/api/admin/canned")
async def add_canned(request: web.Request) -> web.Response:
    admin, actor = await _caller(request, write=True)
    body = await read_object(
        request, allowed={"language", "title", "text"}, required={"language", "title", "text"}
    )
    made = await _guard(admin.add_canned(actor, body["language"], body["title"], body["text"]))
    return _ok({"canned": asdict(made)}, status=201)


@routes.post("/api/admin/canned/{id}")
async def update_canned(request: web.Request) -> web.Response:
    admin, actor = await _caller(request, write=True)
    body = await read_object(request, allowed={"title", "text"}, required={"title", "text"})
    made = await _guard(
        admin.update_canned(
            actor, _int(request.match_info["id"], "id"), body["title"], body["text"]
        )
    )
    return _ok({"canned": asdict(made)})


@routes.post("/api/admin/canned/{id}/delete")
async def delete_canned(request: web.Request) -> web.Response:
    admin, actor = await _caller(request, write=True)
    await _guard(admin.delete_canned(actor, _int(request.match_info["id"], "id")))
    return _ok({"deleted": int(request.match_info["id"])})


# -- the audit log -------------------------------------------------------------------------------
@routes.get("/api/admin/audit")
async def audit(request: web.Request) -> web.Response:
    """Newest first; `before` (an entry id) pages back, `limit` up to 500."""
    admin, actor = await _caller(request)
    before = request.query.get("before")
    limit = _int(request.query.get("limit", "100"), "limit")
    entries = await _guard(
        admin.audit_log(
            actor, limit=limit, before_id=_int(before, "before") if before is not None else None
        )
    )
    return _ok({"entries": [asdict(e) for e in entries]})
