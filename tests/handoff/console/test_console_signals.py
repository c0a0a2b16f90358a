"""Typing and read receipts on the console socket (contract C4), on the real app: the agent's
frames are checked (typing only in a chat they hold, read only in one they may see, bad frames
answered with an error code) before they reach the signal bus; the customer's typing and
receipts reach the consoles holding or watching the chat and nobody else; and across two
instances sharing PostgreSQL and Redis, each side hears the other."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bot.events import Signal
from bot.server.context import CONTEXT
from tests.apps import (
    WS,
    AppFactory,
    Client,
    Frame,
    Session,
    add_agent,
    ask_for_a_person,
    login,
    recv,
    store_of,
)
from tests.bot.test_coordination import REDIS

QUIET_S = 0.6


async def _socket(client: Client, session: Session) -> WS:
    return await client.ws_connect("/ws/console", headers=session.cookie)


async def _until(ws: WS, match: Callable[[Frame], bool]) -> Frame:
    while True:
        frame = await recv(ws)
        if match(frame):
            return frame


async def _quiet(ws: WS, seconds: float = QUIET_S) -> list[Frame]:
    """Whatever arrives within `seconds`."""
    seen: list[Frame] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        seen.append(json.loads(msg.data))
    return seen


async def _signals(got: list[Signal], n: int) -> None:
    async with asyncio.timeout(10):
        while len(got) < n:
            await asyncio.sleep(0.01)


def _holds(cid: str) -> Callable[[Frame], bool]:
    return lambda f: (
        f["type"] == "mine" and cid in [c["conversation_id"] for c in f["conversations"]]
    )


def _signal_frames(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f["type"] in ("typing", "receipt")]


async def test_console_typing_and_read_are_checked_and_the_customers_reach_its_watchers(
    make_client: AppFactory,
) -> None:
    client = await make_client(always_open=True)
    store = store_of(client)
    bus = client.app[CONTEXT].signals
    await add_agent(client, "amy", skills=["after_sales"])
    await add_agent(client, "bob", skills=["after_sales"])
    await add_agent(client, "sue", skills=["billing"], role="supervisor")
    amy, bob, sue = [await login(client, n) for n in ("amy", "bob", "sue")]
    cid = await ask_for_a_person(client, "signals-customer")
    claimed = await client.post(f"/api/agent/conversations/{cid}/claim", headers=amy.writes)
    assert claimed.status == 200
    got: list[Signal] = []  # what the consoles publish (the customer's widget would hear it)
    bus.subscribe(lambda s: got.append(s) if s.sender == "agent" else None, cid)

    ws_amy, ws_bob, ws_sue = [await _socket(client, s) for s in (amy, bob, sue)]
    await _until(ws_amy, _holds(cid))

    # The holder types: one "on" however fast the frames come, then "off".
    for _ in range(3):
        await ws_amy.send_json({"type": "typing", "conversation_id": cid, "on": True})
    await ws_amy.send_json({"type": "typing", "conversation_id": cid, "on": False})
    await _signals(got, 2)
    await asyncio.sleep(0.2)
    assert [(s.kind, s.sender, s.data) for s in got] == [
        ("typing", "agent", {"on": True, "name": "Amy"}),
        ("typing", "agent", {"on": False, "name": "Amy"}),
    ]

    # Bad frames and someone else's chat: an error with a code, and nothing relayed.
    for frame, code in (
        ({"type": "typing", "conversation_id": cid, "on": "yes"}, "invalid"),
        ({"type": "typing", "on": True}, "invalid"),
        ({"type": "read", "conversation_id": cid, "up_to": "7"}, "invalid"),
        ({"type": "read", "conversation_id": cid, "up_to": 0}, "invalid"),
        ({"type": "read", "conversation_id": "x" * 65, "up_to": 1}, "invalid"),
        ({"type": "read", "conversation_id": "no-such-chat", "up_to": 1}, "not_found"),
    ):
        await ws_amy.send_json(frame)
        error = await _until(ws_amy, lambda f: f["type"] == "error")
        assert error["code"] == code, (frame, error)
    await ws_bob.send_json({"type": "typing", "conversation_id": cid, "on": True})
    assert (await _until(ws_bob, lambda f: f["type"] == "error"))["code"] == "not_holder"
    await ws_bob.send_json({"type": "read", "conversation_id": cid, "up_to": 1})
    assert (await _until(ws_bob, lambda f: f["type"] == "error"))["code"] == "forbidden"
    assert len(got) == 2

    # The holder reads: the agents' mark is stored and a receipt published, once.
    newest = (await store.messages.of(cid))[-1].id
    await ws_amy.send_json({"type": "read", "conversation_id": cid, "up_to": newest})
    await _signals(got, 3)
    assert (got[2].kind, got[2].sender) == ("receipt", "agent")
    assert got[2].data == {"received_up_to": newest, "read_up_to": newest}
    marks = await store.read_marks.get(cid)
    assert (marks["agent"].read_up_to, marks["customer"].read_up_to) == (newest, None)
    await ws_amy.send_json({"type": "read", "conversation_id": cid, "up_to": newest})
    await ws_amy.send_json({"type": "ping"})
    await _until(ws_amy, lambda f: f["type"] == "pong")
    assert len(got) == 3

    # The customer's side reaches the holder and a supervisor watching; not Bob.
    await ws_sue.send_json({"type": "watch", "conversation_id": cid})
    await ws_sue.send_json({"type": "ping"})
    await _until(ws_sue, lambda f: f["type"] == "pong")
    await bus.publish(Signal(cid, "typing", "customer", {"on": True, "name": None}))
    receipt = {"received_up_to": newest, "read_up_to": newest - 1}
    await bus.publish(Signal(cid, "receipt", "customer", receipt))
    await bus.publish(Signal("another-chat", "typing", "customer", {"on": True, "name": None}))
    expected = [
        {"type": "typing", "conversation_id": cid, "on": True, "who": "customer"},
        {"type": "receipt", "conversation_id": cid, **receipt},
    ]
    for ws in (ws_amy, ws_sue):
        assert _signal_frames(await _quiet(ws)) == expected
    assert _signal_frames(await _quiet(ws_bob)) == []

    # A console that closes while its agent types stops the indicator.
    await ws_amy.send_json({"type": "typing", "conversation_id": cid, "on": True})
    await _signals(got, 4)
    await ws_amy.close()
    await _signals(got, 5)
    assert (got[4].kind, got[4].data["on"]) == ("typing", False)
    for ws in (ws_bob, ws_sue):
        await ws.close()


@pytest.fixture
async def pair(make_client: AppFactory, database: str) -> tuple[Client, Client]:
    """Two instances on one PostgreSQL database and one Redis."""

    def shared(raw: dict[str, Any]) -> None:
        raw["storage"]["url"] = database
        raw["server"]["redis_url"] = REDIS

    return (
        await make_client(always_open=True, edit=shared, folder="a"),
        await make_client(always_open=True, edit=shared, folder="b"),
    )


async def test_signals_cross_instances_through_redis(pair: tuple[Client, Client]) -> None:
    a, b = pair
    await add_agent(a, "amy", skills=["after_sales"])
    amy = await login(a, "amy")
    cid = await ask_for_a_person(b, "signals-across")
    assert (await a.post(f"/api/agent/conversations/{cid}/claim", headers=amy.writes)).ok
    on_b: list[Signal] = []
    b.app[CONTEXT].signals.subscribe(on_b.append, cid)
    ws = await _socket(a, amy)
    await _until(ws, _holds(cid))

    # The customer's widget is on B; the agent's console on A.
    await b.app[CONTEXT].signals.publish(Signal(cid, "typing", "customer", {"on": True}))
    frame = await _until(ws, lambda f: f["type"] == "typing")
    assert frame == {"type": "typing", "conversation_id": cid, "on": True, "who": "customer"}
    await ws.send_json({"type": "typing", "conversation_id": cid, "on": True})
    newest = (await store_of(a).messages.of(cid))[-1].id
    await ws.send_json({"type": "read", "conversation_id": cid, "up_to": newest})
    await _signals(on_b, 3)  # B's own publish, then A's two
    assert [(s.kind, s.sender) for s in on_b] == [
        ("typing", "customer"),
        ("typing", "agent"),
        ("receipt", "agent"),
    ]
    assert on_b[2].data == {"received_up_to": newest, "read_up_to": newest}
    await ws.close()
