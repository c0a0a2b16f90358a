"""The console page and its session: log in, who am I, log out."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.errors import InputError
from bot.http.json_body import read_object
from bot.http.keys import CONFIG
from bot.store.records import AgentRecord
from handoff.console.accounts import LockedError, LoginError
from handoff.console.auth import COOKIE, current_agent
from handoff.console.services import CONSOLE

STATIC = Path(__file__).resolve().parent / "static"
routes = web.RouteTableDef()


def agent_json(agent: AgentRecord) -> dict[str, object]:
    return {
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role,
        "skills": list(agent.skills),
        "languages": list(agent.languages),
        "max_concurrent": agent.max_concurrent,
        "status": agent.status,
    }


@routes.get("/console")
async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "console.html", headers=_page_headers())


@routes.get("/console/{name:console\\.(js|css)|console-(common|history|notify)\\.js}")
async def asset(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / request.match_info["name"], headers=_page_headers())


def _page_headers() -> dict[str, str]:
    # Scripts only from this server, no framing: a customer's text can never run in the console.
    return {
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data: https: http:; media-src 'self' https: http:;"
            " connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }


@routes.post("/api/console/login")
async def login(request: web.Request) -> web.Response:
    body = await read_object(
        request, allowed={"username", "password"}, required={"username", "password"}
    )
    username, password = body["username"], body["password"]
    if not isinstance(username, str) or not isinstance(password, str):
        raise InputError("'username' and 'password' must be strings")
    if len(username) > 64 or len(password) > 200:
        raise InputError("username or password too long")
    accounts = request.app[CONSOLE].accounts
    try:
        done = await accounts.login(username.strip(), password)
    except LockedError as exc:
        raise web.HTTPTooManyRequests(text=str(exc)) from exc
    except LoginError as exc:
        raise web.HTTPUnauthorized(text=str(exc)) from exc
    resp = web.json_response({"agent": agent_json(done.agent), "csrf": done.csrf})
    console = request.app[CONFIG].console
    resp.set_cookie(
        COOKIE,
        done.token,
        httponly=True,
        samesite="Strict",
        secure=console.secure_cookies,
        path="/",
        max_age=int(console.session_hours * 3600),
    )
    return resp


@routes.get("/api/console/me")
async def me(request: web.Request) -> web.Response:
    found = await current_agent(request)
    if found is None:
        raise web.HTTPUnauthorized(text="not logged in")
    agent, csrf = found
    return web.json_response({"agent": agent_json(agent), "csrf": csrf})


@routes.post("/api/console/logout")
async def logout(request: web.Request) -> web.Response:
    accounts = request.app[CONSOLE].accounts
    token = request.cookies.get(COOKIE, "")
    if token:
        await accounts.logout(token)
    resp = web.json_response({"status": "logged out"})
    resp.del_cookie(COOKIE, path="/")
    return resp
