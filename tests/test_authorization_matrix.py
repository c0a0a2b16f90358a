"""The authorisation matrix: every HTTP and WebSocket route of the real app, taken from the app's
own router, exercised by each principal, with the exact status each one must get.

A route added to the app without a row in MATRIX fails `test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from bot.server.context import CONTEXT
from handoff.console.auth import COOKIE, CSRF_HEADER
from tests.apps import (
    FRAME_TIMEOUT_S,
    HOOK,
    PASSWORD,
    Client,
    Session,
    add_agent,
    ask_for_a_person,
    login,
    store_of,
)
from tests.kit.clients import SENDER_TOKEN

# "customer" is the REST customer of chat a, holding the sender token the webhook handed them;
# "other_customer" is chat b's customer, holding theirs.
ANON, CUSTOMER, OTHER_CUSTOMER, AGENT, OTHER, SUPER, ADMIN = (
    "anonymous",
    "customer",
    "other_customer",
    "agent_after_sales",
    "agent_billing",
    "supervisor",
    "admin",
)
PRINCIPALS = (ANON, CUSTOMER, OTHER_CUSTOMER, AGENT, OTHER, SUPER, ADMIN)
CUSTOMERS = (CUSTOMER, OTHER_CUSTOMER)
LOGGED_IN = (AGENT, OTHER, SUPER, ADMIN)
ACCOUNTS = {  # principal -> (username, fields for store.agents.add)
    AGENT: ("amy", {"skills": ["after_sales"]}),
    OTHER: ("bill", {"skills": ["billing"]}),
    SUPER: ("sue", {"role": "supervisor"}),
    ADMIN: ("ada", {"role": "admin"}),
}


# -- the expected-access table -------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """Expected status per principal for one route. `target` says which conversation a
    principal's request is about: "a" (the queued after_sales chat), "fresh" (a new queued
    after_sales chat, for actions that change it) or "held" (a new chat the principal claimed
    first). `body` is the JSON sent; `query` the query string."""

    expect: dict[str, int]
    body: Any = None
    query: str = ""
    target: dict[str, str] = field(default_factory=dict)
    ws: bool = False


def public(status: int = 200, **kw: Any) -> Row:
    return Row({p: status for p in PRINCIPALS}, **kw)


def agents(ok: int = 200, *, other: int | None = None, **kw: Any) -> Row:
    """Logged-in agents only: 401 for anonymous and customers."""
    expect = {ANON: 401, CUSTOMER: 401, OTHER_CUSTOMER: 401}
    expect |= {AGENT: ok, OTHER: ok if other is None else other}
    return Row({**expect, SUPER: ok, ADMIN: ok}, **kw)


def supervisors(**kw: Any) -> Row:
    expect = {ANON: 401, CUSTOMER: 401, OTHER_CUSTOMER: 401, AGENT: 403, OTHER: 403}
    return Row({**expect, SUPER: 200, ADMIN: 200}, **kw)


def staff_admins(sup: int, admin: int, **kw: Any) -> Row:
    """Administration: agents 403 (never a hint from validation), supervisors and admins what
    their role lets through."""
    expect = {ANON: 401, CUSTOMER: 401, OTHER_CUSTOMER: 401, AGENT: 403, OTHER: 403}
    return Row({**expect, SUPER: sup, ADMIN: admin}, **kw)


def sender_token_holder(**kw: Any) -> Row:
    """Only the customer holding the sender's token (chat a's): nobody who merely names the
    sender, another customer with their own token, or an agent's session."""
    return Row({p: 200 if p == CUSTOMER else 401 for p in PRINCIPALS}, **kw)


CONV = "/api/agent/conversations/{cid}"
FRESH = {AGENT: "fresh", SUPER: "fresh", ADMIN: "fresh"}
HELD = {AGENT: "held", SUPER: "held", ADMIN: "held"}
HOLDER_OR_SUPER = {AGENT: "held", SUPER: "fresh", ADMIN: "fresh"}
# The draft route writes an article into the repository's knowledge/ folder when it succeeds, so
# authorised callers send an invalid body: 400 proves the visibility check (which runs first) let
# them through, and nothing is written.
BAD_DRAFT = {"question": " ", "answer": "x"}
TICKET = "/api/tickets/{number}"
ARTICLE = "/api/review/items/{article_id}"

MATRIX: dict[tuple[str, str], Row] = {
    # public pages, assets, probes and the bot's own channels
    ("GET", "/"): public(),
    ("GET", "/widget.js"): public(),
    ("GET", "/kb/media/{name}"): public(),
    ("GET", "/health"): public(),
    ("GET", "/ready"): public(),
    ("GET", "/metrics"): public(),
    ("GET", "/api"): public(),
    ("GET", "/status"): public(),
    ("GET", "/version"): public(),
    ("POST", "/model/parse"): public(body={"text": "hello"}),
    ("POST", HOOK): public(body={"sender": "matrix-{principal}", "message": "hello"}),
    ("GET", "/webhooks/rest/messages"): sender_token_holder(query="sender=customer-a"),
    ("GET", "/console"): public(),
    ("GET", "/console/{name}"): public(),
    ("GET", "/console/dashboard"): public(),
    ("GET", "/console/dashboard.js"): public(),
    ("GET", "/console/dashboard.css"): public(),
    # the shop's systems: a source's key and HMAC signature, never a session or a sender token
    ("POST", "/api/events"): public(
        401,
        body={
            "id": "evt-matrix",
            "type": "cart_abandoned",
            "customer": {"external_id": "matrix"},
            "occurred_at": "2026-01-01T00:00:00+00:00",
        },
    ),
    ("POST", "/api/console/login"): public(body={"username": "lou", "password": PASSWORD}),
    ("POST", "/api/console/logout"): public(),  # run last: it ends the caller's session
    ("GET", "/ws/widget"): public(101, ws=True),
    # the console's session and feed
    ("GET", "/api/console/me"): agents(),
    ("GET", "/ws/console"): agents(101, ws=True),
    # the agent API
    ("GET", "/api/agent/queue"): agents(),
    ("GET", "/api/agent/mine"): agents(),
    ("GET", "/api/agent/skill-groups"): agents(),
    ("GET", "/api/agent/canned"): agents(),
    ("GET", "/api/agent/colleagues"): agents(),
    ("POST", "/api/agent/status"): agents(body={"status": "online"}),
    ("GET", "/api/agent/supervisor"): supervisors(),
    ("GET", "/api/agent/search"): agents(query="q=refund"),  # each finds what they may read
    ("GET", "/api/supervisor/analytics"): supervisors(),
    ("GET", "/api/supervisor/analytics.csv"): supervisors(),
    ("GET", "/api/dashboard/proactive"): supervisors(),
    ("GET", CONV): agents(other=403),
    ("GET", "/api/agent/customers/{customer_id}"): agents(other=403),
    # customer profiles (handoff/console/profiles_api.py)
    ("GET", "/api/agent/customers/{customer_id}/profile"): agents(other=403),
    ("POST", "/api/agent/customers/{customer_id}/profile"): agents(
        other=403, body={"region": "上海"}
    ),
    ("POST", "/api/agent/customers/{customer_id}/tags"): agents(
        other=403, body={"add": ["matrix"]}
    ),
    ("GET", "/api/agent/segments"): supervisors(),
    ("POST", "/api/agent/segments/recompute"): supervisors(),
    ("POST", CONV + "/claim"): agents(other=403, target=FRESH),
    ("POST", CONV + "/send"): agents(other=403, target=HELD, body={"text": "matrix reply"}),
    ("POST", CONV + "/notes"): agents(201, other=403, body={"text": "matrix note"}),
    ("POST", CONV + "/draft"): agents(400, other=403, body=BAD_DRAFT),
    ("POST", CONV + "/transfer"): agents(
        other=403, target=HOLDER_OR_SUPER, body={"skill_group": "billing"}
    ),
    ("POST", CONV + "/return"): agents(other=403, target=HOLDER_OR_SUPER),
    ("POST", CONV + "/resolve"): agents(other=403, target=HOLDER_OR_SUPER),
    # files: agents who may see the conversation; the customer's own sender token or widget
    # token. Authorised callers of the uploads send JSON: 400 shows the checks let them through.
    ("GET", "/api/media/{media_id}"): agents(other=403),
    ("POST", CONV + "/attachments"): agents(400, other=403, body={"text": "not multipart"}),
    ("POST", "/webhooks/rest/upload"): public(400, body={"sender": "s", "message": "x"}),
    ("GET", "/webhooks/rest/media/{media_id}"): sender_token_holder(query="sender=customer-a"),
    ("POST", "/widget/upload"): public(401),  # nobody here holds a widget token
    ("GET", "/widget/media/{media_id}"): public(401),
    ("OPTIONS", "/widget/upload"): public(204),  # CORS preflight
    ("OPTIONS", "/widget/media/{media_id}"): public(204),
    # administration (handoff/console/admin_api.py): the role is checked before the body, so
    # callers let through get 400 for a value the matrix makes invalid, or 404 for "ghost", and
    # nothing changes. Groups and hours are an admin's; supervisors manage agents (role agent),
    # holidays and canned responses. Finer rules: tests/handoff/console/test_admin_api.py.
    ("GET", "/console/admin"): public(),
    ("GET", "/console/admin/{name}"): public(),
    ("GET", "/api/admin/agents"): supervisors(),
    ("POST", "/api/admin/agents"): staff_admins(400, 400, body={"username": "x"}),
    ("POST", "/api/admin/agents/{username}"): staff_admins(404, 404, body={"max_concurrent": 2}),
    ("POST", "/api/admin/agents/{username}/disable"): staff_admins(404, 404),
    ("POST", "/api/admin/agents/{username}/enable"): staff_admins(404, 404),
    ("POST", "/api/admin/agents/{username}/password"): staff_admins(404, 404, body={}),
    ("GET", "/api/admin/settings"): supervisors(),
    ("POST", "/api/admin/groups/{name}"): staff_admins(403, 400, body={"hours": "25:00-26:00"}),
    ("POST", "/api/admin/groups/{name}/delete"): staff_admins(403, 404),
    ("POST", "/api/admin/holidays"): staff_admins(400, 400, body={"day": "bad", "name": "x"}),
    ("POST", "/api/admin/holidays/{id}/delete"): staff_admins(404, 404),
    ("POST", "/api/admin/canned"): staff_admins(
        400, 400, body={"language": "fr", "title": "t", "text": "x"}
    ),
    ("POST", "/api/admin/canned/{id}"): staff_admins(404, 404, body={"title": "t", "text": "x"}),
    ("POST", "/api/admin/canned/{id}/delete"): staff_admins(404, 404),
    ("GET", "/api/admin/audit"): supervisors(),
    # tickets (handoff/console/tickets_api.py): the matrix's ticket number does not exist, so
    # callers let through get 404; who may see and work a real ticket is pinned in
    # tests/handoff/test_tickets_api.py. The follow-up's token is the customer's credential.
    ("GET", "/console/tickets"): public(),
    ("GET", "/console/tickets.js"): public(),
    ("GET", "/console/tickets.css"): public(),
    ("GET", "/console/tickets-dashboard.js"): public(),
    ("GET", "/console/proactive-dashboard.js"): public(),
    ("GET", "/console/follow-up.js"): public(),
    ("GET", "/tickets/follow-up/{token}"): public(),
    ("GET", "/api/follow-up/{token}"): public(404),
    ("POST", "/api/follow-up/{token}"): public(404, body={"solved": True, "fast_enough": True}),
    ("GET", "/api/tickets"): agents(),
    ("POST", "/api/tickets"): agents(404, body={"customer_id": "nobody", "subject": "matrix"}),
    ("GET", "/api/tickets/report"): supervisors(),
    ("GET", "/api/tickets/alerts"): agents(),
    ("POST", "/api/tickets/alerts/read"): agents(),
    ("GET", TICKET): agents(404),
    ("POST", TICKET + "/claim"): agents(404),
    ("POST", TICKET + "/assign"): agents(404, body={"username": None}),
    ("POST", TICKET + "/status"): agents(404, body={"status": "in_progress"}),
    ("POST", TICKET + "/notes"): agents(404, body={"text": "matrix note"}),
    ("POST", TICKET + "/updates"): agents(404, body={"text": "matrix update"}),
    ("POST", TICKET + "/escalate"): agents(404),
    ("POST", TICKET + "/details"): agents(404, body={"cross_department": True}),
    # knowledge review (handoff/console/review_api.py): the matrix's article does not exist, so
    # callers let through get 404 and nothing is written; decisions are for supervisors.
    # Who may edit, submit and decide on real articles: tests/handoff/test_knowledge_review.py.
    ("GET", "/console/review"): public(),
    ("GET", "/console/review.js"): public(),
    ("GET", "/console/review.css"): public(),
    ("GET", "/console/review-stats.js"): public(),
    ("GET", "/api/review/items"): agents(),
    ("GET", ARTICLE): agents(404),
    ("POST", ARTICLE + "/edit"): agents(404, body={"body": "matrix"}),
    ("POST", ARTICLE + "/submit"): agents(404),
    ("POST", ARTICLE + "/approve"): Row({**agents(404).expect, AGENT: 403, OTHER: 403}, body={}),
    ("POST", ARTICLE + "/reject"): Row(
        {**agents(404).expect, AGENT: 403, OTHER: 403}, body={"reason": "matrix"}
    ),
    ("POST", ARTICLE + "/discard"): agents(404),
    ("GET", "/api/review/articles"): agents(query="q=shipping"),
    ("POST", "/api/review/articles/{article_id}/revise"): agents(404),
    ("GET", "/api/review/contributions"): supervisors(),
}
# Cells whose code disagreed with the table once; now fixed, kept empty for the next one.
KNOWN_BUGS: set[tuple[str, str, str]] = set()
# POSTs that need the session's CSRF header: without it a logged-in caller gets 403.
CSRF_FREE = {
    "/model/parse",
    HOOK,
    "/api/console/login",
    "/api/console/logout",
    "/webhooks/rest/upload",
    "/widget/upload",
    "/api/follow-up/{token}",
    "/api/events",
}


# -- the app, its principals and its data --------------------------------------------------------
@dataclass
class World:
    sessions: dict[str, Session]
    cid_a: str  # queued, after_sales
    cid_b: str  # queued, billing
    customer_a: str
    # What each customer principal sends: their REST sender token.
    customer_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    fresh_count: int = 0
    media_id: str = ""  # a photo customer a sent in chat a


async def build_world(client: Client) -> World:
    for username, fields in (*ACCOUNTS.values(), ("lou", {"skills": ["after_sales"]})):
        await add_agent(client, username, max_concurrent=50, **fields)
    sessions = {p: await login(client, ACCOUNTS[p][0]) for p in LOGGED_IN}
    cid_a, token_a = await ask_holding_token(client, "customer-a")
    cid_b, token_b = await ask_holding_token(client, "customer-b")
    service = client.app[CONTEXT].handoff
    await service.transfer(cid_b, "billing")
    customer_a = (await store_of(client).conversations.get(cid_a)).customer_id
    held = {CUSTOMER: {SENDER_TOKEN: token_a}, OTHER_CUSTOMER: {SENDER_TOKEN: token_b}}
    photo = await store_of(client).media.add(
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, conversation_id=cid_a, direction="in"
    )
    return World(sessions, cid_a, cid_b, customer_a, held, media_id=photo.id)


async def ask_holding_token(client: Client, sender: str) -> tuple[str, str]:
    """`sender` asks the REST channel for a person; the conversation id and the sender token
    the answer handed out, as a REST client keeps it."""
    resp = await client.post(HOOK, json={"sender": sender, "message": "转人工"})
    assert resp.headers["X-Relaydesk-Status"] == "queued", await resp.text()
    last = (await resp.json())[-1]
    assert last["custom"]["sender_token"] == resp.headers[SENDER_TOKEN]
    return last["custom"]["conversation_id"], resp.headers[SENDER_TOKEN]


def headers_for(world: World, principal: str, *, csrf: bool) -> dict[str, str]:
    session = world.sessions.get(principal)
    if session is None:
        return dict(world.customer_headers.get(principal, {}))
    return {**session.cookie, **({CSRF_HEADER: session.csrf} if csrf else {})}


async def target_cid(client: Client, world: World, principal: str, kind: str) -> str:
    if kind == "a":
        return world.cid_a
    world.fresh_count += 1
    cid = await ask_for_a_person(client, f"fresh-{world.fresh_count}")
    if kind == "held":
        resp = await client.post(
            f"{CONV.format(cid=cid)}/claim", headers=headers_for(world, principal, csrf=True)
        )
        assert resp.status == 200, await resp.text()
    return cid


def app_routes(client: Client) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves; HEAD rides on its GET."""
    found = {(r.method, r.resource.canonical) for r in client.app.router.routes() if r.resource}
    heads = {path for method, path in found if method == "HEAD"}
    gets = {path for method, path in found if method == "GET"}
    assert heads <= gets, heads - gets
    return {(m, p) for m, p in found if m != "HEAD"}


def url_for(path: str, world: World, cid: str) -> str:
    names = {
        "/console/{name}": "console.js",
        "/kb/media/{name}": "delivery-timeline.svg",
        "/console/admin/{name}": "admin.js",
        "/api/admin/groups/{name}": "ghost",
        "/api/admin/groups/{name}/delete": "ghost",
    }
    path = path.replace("{name}", names.get(path, "{name}"))
    return path.format(
        cid=cid,
        customer_id=world.customer_a,
        media_id=world.media_id,
        number="T-999999",  # no such ticket
        token="0" * 43,  # no such follow-up
        article_id="service/no-such-article",  # no such knowledge article
        username="ghost",  # no such agent
        id="999999",  # no such holiday or canned response
    )


async def expect_refusal(resp: aiohttp.ClientResponse, status: int) -> str:
    """A 401/403 must be the server's JSON error with a message."""
    body = await resp.json()
    assert body["code"] == status and body["status"] == "failure", body
    message: str = body["message"]
    assert message.strip(), body
    return message


async def call(
    client: Client, method: str, url: str, row: Row, principal: str, headers: dict[str, str]
) -> aiohttp.ClientResponse:
    body = row.body
    if body is not None:
        body = json.loads(json.dumps(body).replace("{principal}", principal))
    query = row.query.replace("{principal}", principal)
    # Principals send their credentials explicitly; a cookie the login row's answer left in the
    # client's jar would otherwise make every later "anonymous" call a logged-in one.
    client.session.cookie_jar.clear()
    return await client.request(
        method, url + (f"?{query}" if query else ""), json=body, headers=headers
    )


async def ws_status(client: Client, url: str, headers: dict[str, str]) -> int:
    try:
        ws = await client.ws_connect(url, headers=headers)
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status
    try:
        if url == "/ws/widget":
            await ws.send_json({"type": "hello"})
        frame = json.loads((await ws.receive(timeout=FRAME_TIMEOUT_S)).data)
        assert frame["type"] in ("welcome", "queue"), frame
    finally:
        await ws.close()
    return 101


# -- the tests -----------------------------------------------------------------------------------
async def test_every_route_is_in_the_matrix(client: Client) -> None:
    served = app_routes(client)
    missing = sorted(served - set(MATRIX))
    stale = sorted(set(MATRIX) - served)
    assert not missing, f"every route must be in the matrix; add rows for {missing}"
    assert not stale, f"matrix rows for routes the app does not serve: {stale}"
    for key, row in MATRIX.items():
        assert set(row.expect) == set(PRINCIPALS), key


async def test_the_matrix(client: Client) -> None:
    world = await build_world(client)
    # Logout ends the caller's session, so it goes last.
    order = sorted(app_routes(client), key=lambda k: (k[1] == "/api/console/logout", k))
    wrong: list[str] = []
    checked = 0
    for method, path in order:
        row = MATRIX[(method, path)]
        for principal in PRINCIPALS:
            if (method, path, principal) in KNOWN_BUGS:
                continue
            expected = row.expect[principal]
            kind = row.target.get(principal, "a") if 200 <= expected < 300 else "a"
            cid = await target_cid(client, world, principal, kind) if "{cid}" in path else ""
            url = url_for(path, world, cid)
            checked += 1
            if row.ws:
                got = await ws_status(client, url, headers_for(world, principal, csrf=False))
                if got != expected:
                    wrong.append(f"WS {url} as {principal}: {got}, expected {expected}")
                continue
            needs_csrf = method == "POST" and path not in CSRF_FREE
            if needs_csrf and principal in LOGGED_IN:  # the session alone is not enough
                resp = await call(
                    client, method, url, row, principal, headers_for(world, principal, csrf=False)
                )
                if resp.status != 403:
                    wrong.append(f"{method} {url} as {principal} without CSRF: {resp.status}")
                else:
                    assert "X-CSRF-Token" in await expect_refusal(resp, 403)
            headers = headers_for(world, principal, csrf=True)
            resp = await call(client, method, url, row, principal, headers)
            if resp.status != expected:
                text = (await resp.text())[:200]
                wrong.append(f"{method} {url} as {principal}: {resp.status} {text}")
            elif expected in (401, 403):
                await expect_refusal(resp, expected)
    assert not wrong, "\n".join(wrong)
    assert checked == len(MATRIX) * len(PRINCIPALS) - len(KNOWN_BUGS)
    # The refused calls changed nothing: the conversation is still waiting for after_sales.
    handoff = await store_of(client).handoffs.active(world.cid_a)
    assert handoff is not None and handoff.status == "queued"
    assert handoff.skill_group == "after_sales"
    # Logout really ended every session.
    for principal in LOGGED_IN:
        resp = await client.get(
            "/api/console/me", headers=headers_for(world, principal, csrf=False)
        )
        assert resp.status == 401


async def test_an_agent_outside_the_group_is_refused_sending_with_403(client: Client) -> None:
    world = await build_world(client)
    resp = await client.post(
        f"{CONV.format(cid=world.cid_a)}/send",
        headers=headers_for(world, OTHER, csrf=True),
        json={"text": "not my chat"},
    )
    assert resp.status == 403, await resp.text()
    await expect_refusal(resp, 403)


async def test_each_agent_sees_their_groups_queue_and_own_chats(client: Client) -> None:
    world = await build_world(client)

    async def get(principal: str, url: str) -> Any:
        resp = await client.get(url, headers=headers_for(world, principal, csrf=False))
        assert resp.status == 200, (principal, url, await resp.text())
        return await resp.json()

    def cids(items: list[dict[str, Any]]) -> set[str]:
        return {i["conversation_id"] for i in items}

    both = {world.cid_a, world.cid_b}
    assert cids((await get(AGENT, "/api/agent/queue"))["queue"]) == {world.cid_a}
    assert cids((await get(OTHER, "/api/agent/queue"))["queue"]) == {world.cid_b}
    assert cids((await get(SUPER, "/api/agent/queue"))["queue"]) == both
    assert cids((await get(ADMIN, "/api/agent/queue"))["queue"]) == both
    # The billing chat is closed to the after_sales agent, open to the billing one.
    for principal, status in ((AGENT, 403), (OTHER, 200), (SUPER, 200)):
        resp = await client.get(
            CONV.format(cid=world.cid_b), headers=headers_for(world, principal, csrf=False)
        )
        assert resp.status == status, (principal, await resp.text())
    # Own chats only: after claiming, the chat is amy's and nobody else's.
    resp = await client.post(
        f"{CONV.format(cid=world.cid_a)}/claim", headers=headers_for(world, AGENT, csrf=True)
    )
    assert resp.status == 200
    assert cids((await get(AGENT, "/api/agent/mine"))["conversations"]) == {world.cid_a}
    assert cids((await get(SUPER, "/api/agent/mine"))["conversations"]) == set()
    assert cids((await get(AGENT, "/api/agent/queue"))["queue"]) == set()


async def test_a_held_chat_is_closed_to_other_agents_of_the_group(client: Client) -> None:
    world = await build_world(client)
    resp = await client.post(
        f"{CONV.format(cid=world.cid_a)}/claim", headers=headers_for(world, AGENT, csrf=True)
    )
    assert resp.status == 200
    lou = await login(client, "lou")  # after_sales too, but not holding the chat
    profile = await client.get(f"/api/agent/customers/{world.customer_a}", headers=lou.cookie)
    assert profile.status == 403  # the profile already refuses...
    resp = await client.get(CONV.format(cid=world.cid_a), headers=lou.cookie)
    assert resp.status == 403, "...but the transcript is served"
    await expect_refusal(resp, 403)


async def test_the_console_socket_refuses_anonymous_and_foreign_origins(client: Client) -> None:
    world = await build_world(client)
    for headers in ({}, {"Cookie": f"{COOKIE}=not-a-session"}):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/console", headers=headers)
        assert refused.value.status == 401
    for principal in LOGGED_IN:
        cookie = headers_for(world, principal, csrf=False)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(
                "/ws/console", headers={**cookie, "Origin": "https://evil.example"}
            )
        assert refused.value.status == 403, principal


async def test_disabled_messenger_webhooks_are_not_served(client: Client) -> None:
    world = await build_world(client)
    for principal in PRINCIPALS:
        headers = headers_for(world, principal, csrf=True)
        for method, url in (
            ("POST", "/webhooks/telegram"),
            ("GET", "/webhooks/wechat"),
            ("POST", "/webhooks/wechat"),
        ):
            resp = await client.request(method, url, headers=headers, json={})
            assert resp.status == 404, (principal, method, url)


# -- the widget: a token is the only key ---------------------------------------------------------
TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


async def widget_hello(client: Client, token: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Open the widget with `token`; the token welcomed with and the history replayed."""
    ws = await client.ws_connect("/ws/widget")
    await ws.send_json({"type": "hello", **({"token": token} if token else {})})
    frames: list[dict[str, Any]] = []
    while True:
        frame = json.loads((await ws.receive(timeout=FRAME_TIMEOUT_S)).data)
        frames.append(frame)
        if frame["type"] == "state":
            break
    await ws.close()
    assert frames[0]["type"] == "welcome", frames
    return frames[0]["token"], [f for f in frames if f["type"] == "message"]


async def widget_says(client: Client, text: str) -> tuple[str, str]:
    """A new visitor says `text`; their token and conversation id."""
    ws = await client.ws_connect("/ws/widget")
    await ws.send_json({"type": "hello"})
    welcome = json.loads((await ws.receive(timeout=FRAME_TIMEOUT_S)).data)
    assert welcome["type"] == "welcome"
    await ws.send_json({"type": "message", "text": text, "client_id": "m1"})
    while True:
        frame = json.loads((await ws.receive(timeout=FRAME_TIMEOUT_S)).data)
        if frame["type"] == "message" and frame["text"] == text:
            break
    await ws.close()
    return welcome["token"], frame["conversation_id"]


def random_bits(token: str) -> int:
    assert TOKEN.match(token), token
    return len(token) * 6  # base64url: six bits a character


async def test_a_widget_token_opens_only_its_own_history(client: Client) -> None:
    secret_a, secret_b = "我的订单 202611180042 地址是 甲-秘密", "my address is B-secret street"
    token_a, cid_a = await widget_says(client, secret_a)
    token_b, cid_b = await widget_says(client, secret_b)
    assert token_a != token_b and cid_a != cid_b
    for token in (token_a, token_b):
        assert random_bits(token) >= 128, token  # secrets.token_urlsafe(24): 192 bits

    _, history_b = await widget_hello(client, token_b)
    assert history_b and {m["conversation_id"] for m in history_b} == {cid_b}
    assert all(secret_a not in json.dumps(m, ensure_ascii=False) for m in history_b)
    assert any(m["text"] == secret_b for m in history_b)

    # A well-formed token nobody was issued opens nothing; a malformed one is replaced.
    guessed, history = await widget_hello(client, "A" * 32)
    assert guessed == "A" * 32 and history == []
    replaced, history = await widget_hello(client, "short")
    assert replaced != "short" and random_bits(replaced) >= 128 and history == []

    # The token is the key: it (and only it) brings A's history back.
    again, history_a = await widget_hello(client, token_a)
    assert again == token_a and {m["conversation_id"] for m in history_a} == {cid_a}
    assert any(m["text"] == secret_a for m in history_a)
    # Nothing in the store keeps the token itself.
    store = store_of(client)
    customer = (await store.conversations.get(cid_a)).customer_id
    assert token_a not in json.dumps((await store.customers.get(customer)).__dict__, default=str)


async def test_metrics_are_public_but_hold_no_secrets_or_customer_text(client: Client) -> None:
    world = await build_world(client)
    secret = "metrics-canary 身份证 110101199003071234"
    token, cid = await widget_says(client, secret)
    resp = await client.post(HOOK, json={"sender": "rest-canary-sender", "message": secret})
    assert resp.status == 200
    resp = await client.get("/metrics")
    assert resp.status == 200
    body = await resp.text()
    assert "relaydesk_" in body
    leaks = [
        PASSWORD,
        secret,
        "metrics-canary",
        token,
        cid,
        world.cid_a,
        world.customer_a,
        "rest-canary-sender",
        "customer-a",
        *(s.token for s in world.sessions.values()),
        *(s.csrf for s in world.sessions.values()),
    ]
    found = [leak for leak in leaks if leak in body]
    assert not found, found
    await asyncio.sleep(0)
