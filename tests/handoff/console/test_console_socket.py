"""The console's session and live socket (/ws/console) on the real app: who may open it, what each
role sees in the queue and on watched conversations, CSRF on every POST, and logout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from handoff.console.auth import COOKIE, CSRF_HEADER
from tests.apps import (
    FRAME_TIMEOUT_S,
    HOOK,
    WS,
    Client,
    Frame,
    Session,
    add_agent,
    login,
    recv,
    store_of,
)

QUIET_S = 0.8  # over three list refreshes of the feed (QUEUE_REFRESH_S = 0.25)


async def socket(client: Client, session: Session) -> WS:
    return await client.ws_connect("/ws/console", headers=session.cookie)


async def wait_for(ws: WS, seen: list[Frame], match: Callable[[Frame], bool]) -> Frame:
    """The first frame that matches; every frame read on the way is appended to `seen`."""
    while True:
        frame = await recv(ws)
        seen.append(frame)
        if match(frame):
            return frame


async def drain(ws: WS, seen: list[Frame], seconds: float = QUIET_S) -> None:
    """Read whatever arrives within `seconds` into `seen`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            return
        if msg.type != aiohttp.WSMsgType.TEXT:
            return
        seen.append(json.loads(msg.data))


def queued(cid: str) -> Callable[[Frame], bool]:
    return lambda f: f["type"] == "queue" and cid in [i["conversation_id"] for i in f["queue"]]


def message_in(cid: str, text: str) -> Callable[[Frame], bool]:
    return lambda f: (
        f["type"] == "message" and f["conversation_id"] == cid and f["message"]["text"] == text
    )


async def ask_for_a_person(client: Client, sender: str) -> str:
    resp = await client.post(HOOK, json={"sender": sender, "message": "转人工"})
    assert resp.headers["X-Relaydesk-Status"] == "queued"
    cid: str = (await resp.json())[-1]["custom"]["conversation_id"]
    return cid


async def customer_says(client: Client, sender: str, text: str) -> None:
    resp = await client.post(HOOK, json={"sender": sender, "message": text})
    assert resp.status == 200


# -- who may open the socket -------------------------------------------------------------------
async def test_the_socket_needs_a_login(client: Client) -> None:
    for headers in ({}, {"Cookie": f"{COOKIE}=not-a-session"}):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/console", headers=headers)
        assert refused.value.status == 401, headers


async def test_a_page_on_another_origin_cannot_use_the_agents_cookie(client: Client) -> None:
    await add_agent(client, "amy", skills=["after_sales"])
    amy = await login(client, "amy")
    for origin in ("https://evil.example", "http://127.0.0.1:1", "null"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/console", headers={**amy.cookie, "Origin": origin})
        assert refused.value.status == 403, origin
    own = f"http://{client.host}:{client.port}"
    ws = await client.ws_connect("/ws/console", headers={**amy.cookie, "Origin": own})
    assert (await recv(ws))["type"] == "queue"


# -- the feed ------------------------------------------------------------------------------------
async def test_an_agent_sees_their_queue_then_the_customer_after_claiming(
    client: Client,
) -> None:
    await add_agent(client, "amy", skills=["after_sales"])
    amy = await login(client, "amy")
    ws = await socket(client, amy)
    seen: list[Frame] = []
    first = await wait_for(ws, seen, lambda f: True)
    assert first == {"type": "queue", "queue": [], "sla_seconds": 30}
    assert (await wait_for(ws, seen, lambda f: True)) == {"type": "mine", "conversations": []}

    cid = await ask_for_a_person(client, "c1")
    frame = await wait_for(ws, seen, queued(cid))
    [item] = frame["queue"]
    assert item["skill_group"] == "after_sales" and item["channel"] == "rest"
    assert item["status"] == "queued" and item["assigned_to"] is None

    claim = f"/api/agent/conversations/{cid}/claim"
    assert (await client.post(claim, headers=amy.cookie)).status == 403  # no CSRF header
    wrong = {**amy.cookie, CSRF_HEADER: amy.csrf + "x"}
    assert (await client.post(claim, headers=wrong)).status == 403
    handoff = await store_of(client).handoffs.active(cid)
    assert handoff is not None and handoff.status == "queued"  # the refused claims did nothing
    resp = await client.post(claim, headers=amy.writes)
    assert resp.status == 200 and (await resp.json())["handoff"]["status"] == "assigned"

    # One refresh: the queue empties, then the chat is among the agent's own.
    await wait_for(ws, seen, lambda f: f["type"] == "queue" and f["queue"] == [])
    held = await recv(ws)
    assert held["type"] == "mine"
    assert [(i["conversation_id"], i["assigned_to"]) for i in held["conversations"]] == [
        (cid, "amy")
    ]

    await customer_says(client, "c1", "我的包裹还没到")
    got = await wait_for(ws, seen, message_in(cid, "我的包裹还没到"))
    assert got["message"]["sender"] == "customer" and got["message"]["channel"] == "rest"
    assert got["message"]["parse"]["intent"]["name"]

    # The agent's own reply comes back on the feed too, with the agent's name.
    sent = await client.post(
        f"/api/agent/conversations/{cid}/send", headers=amy.writes, json={"text": "马上帮您查"}
    )
    assert sent.status == 200
    mine = await wait_for(ws, seen, message_in(cid, "马上帮您查"))
    assert mine["message"]["sender"] == "agent" and mine["message"]["agent"] == "Amy"
    ids = [f["message"]["id"] for f in seen if f["type"] == "message"]
    assert len(ids) == len(set(ids))  # nothing twice


async def test_an_agent_outside_the_skill_group_sees_nothing_a_supervisor_sees_all(
    client: Client,
) -> None:
    await add_agent(client, "amy", skills=["billing"])
    await add_agent(client, "boss", role="supervisor")
    amy, boss = await login(client, "amy"), await login(client, "boss")
    amy_ws, boss_ws = await socket(client, amy), await socket(client, boss)
    amy_seen: list[Frame] = []
    boss_seen: list[Frame] = []
    floor = await wait_for(boss_ws, boss_seen, lambda f: f["type"] == "supervisor")
    assert sorted(a["username"] for a in floor["agents"]) == ["amy", "boss"]
    assert floor["groups"] == []
    await wait_for(amy_ws, amy_seen, lambda f: f["type"] == "mine")
    # Someone in after-sales is online (not watching), so the request queues, not a ticket.
    await add_agent(client, "cal", skills=["after_sales"])

    cid = await ask_for_a_person(client, "c2")
    await wait_for(boss_ws, boss_seen, queued(cid))
    floor = await wait_for(
        boss_ws, boss_seen, lambda f: f["type"] == "supervisor" and f["groups"] != []
    )
    [group] = floor["groups"]
    assert group["skill_group"] == "after_sales" and group["waiting"] == 1
    assert {a["username"]: a["load"] for a in floor["agents"]} == {"amy": 0, "boss": 0, "cal": 0}
    assert {a["username"]: a["role"] for a in floor["agents"]} == {
        "amy": "agent",
        "boss": "supervisor",
        "cal": "agent",
    }

    # Both look at the conversation; only the supervisor may.
    await amy_ws.send_json({"type": "watch", "conversation_id": cid})
    await boss_ws.send_json({"type": "watch", "conversation_id": cid})
    for ws, seen in ((amy_ws, amy_seen), (boss_ws, boss_seen)):  # the watch is read before this
        await ws.send_json({"type": "ping"})
        await wait_for(ws, seen, lambda f: f["type"] == "pong")
    await customer_says(client, "c2", "还要等多久")
    await wait_for(boss_ws, boss_seen, message_in(cid, "还要等多久"))
    await drain(amy_ws, amy_seen)

    assert not [f for f in amy_seen if f["type"] == "supervisor"]
    assert not [f for f in amy_seen if f["type"] == "message"]
    assert not [f for f in amy_seen if queued(cid)(f)]
    assert not [f for f in amy_seen if f["type"] == "error"]
    queue = await (await client.get("/api/agent/queue", headers=amy.cookie)).json()
    assert queue["queue"] == []
    view = await client.get(f"/api/agent/conversations/{cid}", headers=amy.cookie)
    assert view.status == 403


async def test_a_watch_on_an_unknown_or_bad_conversation_gives_nothing(
    client: Client,
) -> None:
    await add_agent(client, "boss", role="supervisor")
    boss = await login(client, "boss")
    ws = await socket(client, boss)
    seen: list[Frame] = []
    await wait_for(ws, seen, lambda f: f["type"] == "supervisor")
    await ws.send_json({"type": "watch", "conversation_id": "no-such-conversation"})
    await ws.send_json({"type": "watch", "conversation_id": 7})
    err = await wait_for(ws, seen, lambda f: f["type"] == "error")
    assert "conversation_id" in err["message"]
    for bad in ("{not json", "[]"):
        await ws.send_str(bad)
        err = await wait_for(ws, seen, lambda f: f["type"] == "error")
        assert "JSON" in err["message"]
    await ws.send_json({"type": "dance"})
    err = await wait_for(ws, seen, lambda f: f["type"] == "error")
    assert "unknown frame type" in err["message"]
    await ws.send_json({"type": "ping"})
    await wait_for(ws, seen, lambda f: f["type"] == "pong")
    assert not ws.closed


# -- the HTTP session ----------------------------------------------------------------------------
async def test_login_me_and_a_wrong_password(client: Client) -> None:
    await add_agent(client, "amy", skills=["after_sales"], languages=["zh"])
    bad = await client.post("/api/console/login", json={"username": "amy", "password": "nope"})
    assert bad.status == 401 and (await bad.json())["message"] == "wrong username or password"
    assert COOKIE not in bad.cookies
    amy = await login(client, "amy")
    assert amy.agent == {
        "username": "amy",
        "display_name": "Amy",
        "role": "agent",
        "skills": ["after_sales"],
        "languages": ["zh"],
        "max_concurrent": 3,
        "status": "online",
    }
    me = await client.get("/api/console/me", headers=amy.cookie)
    assert me.status == 200 and await me.json() == {"agent": amy.agent, "csrf": amy.csrf}


async def test_every_post_needs_the_csrf_header(client: Client) -> None:
    await add_agent(client, "amy", skills=["after_sales"])
    amy = await login(client, "amy")
    status = "/api/agent/status"
    for headers in (amy.cookie, {**amy.cookie, CSRF_HEADER: ""}, {**amy.cookie, CSRF_HEADER: "x"}):
        resp = await client.post(status, headers=headers, json={"status": "away"})
        assert resp.status == 403 and CSRF_HEADER in (await resp.json())["message"]
    assert (await store_of(client).agents.get("amy")).status == "online"
    ok = await client.post(status, headers=amy.writes, json={"status": "away"})
    assert ok.status == 200 and (await ok.json())["agent"]["status"] == "away"
    # Another agent's CSRF token does not fit this session.
    await add_agent(client, "bob", skills=["after_sales"])
    bob = await login(client, "bob")
    crossed = {**amy.cookie, CSRF_HEADER: bob.csrf}
    assert (await client.post(status, headers=crossed, json={"status": "online"})).status == 403


async def test_logout_ends_the_session_on_the_server(client: Client) -> None:
    await add_agent(client, "amy", skills=["after_sales"])
    amy = await login(client, "amy")
    other = await login(client, "amy")  # a second browser of the same agent
    out = await client.post("/api/console/logout", headers=amy.cookie)
    assert out.status == 200
    assert out.cookies[COOKIE].value == ""  # the browser is told to forget it
    # The old cookie, sent again, no longer opens anything.
    assert (await client.get("/api/console/me", headers=amy.cookie)).status == 401
    assert (await client.get("/api/agent/queue", headers=amy.cookie)).status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await socket(client, amy)
    assert refused.value.status == 401
    # Only that session ended.
    assert (await client.get("/api/console/me", headers=other.cookie)).status == 200


async def test_a_message_right_after_the_claim_still_reaches_the_holder(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handoff.console import socket as console_socket

    await add_agent(client, "amy", skills=["after_sales"])
    amy = await login(client, "amy")
    cid = await ask_for_a_person(client, "c3")
    # A slow list refresh makes the window between the claim and the refresh certain.
    monkeypatch.setattr(console_socket, "QUEUE_REFRESH_S", 2.0)
    ws = await socket(client, amy)
    seen: list[Frame] = []
    await wait_for(ws, seen, lambda f: f["type"] == "mine")
    resp = await client.post(f"/api/agent/conversations/{cid}/claim", headers=amy.writes)
    assert resp.status == 200
    await store_of(client).messages.append(cid, "customer", "are you there?")
    await wait_for(ws, seen, lambda f: f["type"] == "mine" and f["conversations"] != [])
    await customer_says(client, "c3", "hello?")
    await wait_for(ws, seen, message_in(cid, "hello?"))
    assert [f for f in seen if message_in(cid, "are you there?")(f)]


async def test_the_feed_carries_on_after_the_database_was_away(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store call failing while PostgreSQL restarts must not leave the console silent until
    the page is reloaded: the feed waits and sends what it missed."""
    from bot.errors import StoreUnavailableError
    from handoff.console import socket as console_socket

    monkeypatch.setattr(console_socket, "STORE_RETRY_S", 0.2)
    await add_agent(client, "amy", skills=["after_sales"])
    amy = await login(client, "amy")
    cid = await ask_for_a_person(client, "c4")
    ws = await socket(client, amy)
    seen: list[Frame] = []
    await wait_for(ws, seen, lambda f: f["type"] == "mine")
    assert (await client.post(f"/api/agent/conversations/{cid}/claim", headers=amy.writes)).ok
    await wait_for(ws, seen, lambda f: f["type"] == "mine" and f["conversations"] != [])

    store = store_of(client)
    real_messages, real_views = store.messages.of, store.handoffs.views
    outage = {"messages": 3, "views": 3}  # the next reads of each kind fail, as during a restart

    async def messages(*args: Any, **kwargs: Any) -> Any:
        if outage["messages"]:
            outage["messages"] -= 1
            raise StoreUnavailableError("the database is restarting")
        return await real_messages(*args, **kwargs)

    async def views(*args: Any, **kwargs: Any) -> Any:
        if outage["views"]:
            outage["views"] -= 1
            raise StoreUnavailableError("the database is restarting")
        return await real_views(*args, **kwargs)

    monkeypatch.setattr(store.messages, "of", messages)
    monkeypatch.setattr(store.handoffs, "views", views)
    await customer_says(client, "c4", "still there?")
    await wait_for(ws, seen, message_in(cid, "still there?"))
    assert outage["messages"] == 0  # the message feed met the outage and came through
    async with asyncio.timeout(FRAME_TIMEOUT_S):
        while outage["views"]:  # so do the lists, once their failures have run out
            await drain(ws, seen)
    other = await ask_for_a_person(client, "c5")
    await wait_for(ws, seen, queued(other))
    await customer_says(client, "c4", "and now?")
    await wait_for(ws, seen, message_in(cid, "and now?"))
