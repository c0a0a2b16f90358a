"""Two server instances sharing PostgreSQL and Redis: what an agent says through one reaches a
customer whose widget socket is held by the other, and one customer's messages sent to both at
once are all stored, each once, in one order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.server.context import CONTEXT
from tests.apps import AppFactory, Client
from tests.bot.test_coordination import REDIS


@pytest.fixture
async def pair(make_client: AppFactory, database: str) -> tuple[Client, Client]:
    """Two instances on one PostgreSQL database and one Redis, each with its own folder."""

    def shared(raw: dict[str, Any]) -> None:
        raw["storage"]["url"] = database
        raw["server"]["redis_url"] = REDIS

    a, b = [
        await make_client(dev_agent_api=True, always_open=True, edit=shared, folder=name)
        for name in ("a", "b")
    ]
    return a, b


async def test_an_agent_on_one_instance_reaches_a_widget_on_the_other(
    pair: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    a, b = pair
    store = a.app[CONTEXT].store
    assert store is not None
    await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    ws = await b.ws_connect("/ws/widget")
    await ws.send_json({"type": "hello", "token": None, "after": 0, "language": "zh"})
    await ws.send_json({"type": "message", "text": "转人工", "client_id": "m1"})
    cid = None
    async with asyncio.timeout(10):
        while cid is None:
            frame = await ws.receive_json()
            if frame["type"] == "state" and frame["status"] == "queued":
                cid = (await store.handoffs.views())[0]["conversation_id"]
    amy = {"X-Relaydesk-Agent": "amy"}
    assert (await a.post(f"/api/agent/conversations/{cid}/claim", headers=amy)).ok
    sent = await a.post(
        f"/api/agent/conversations/{cid}/send", headers=amy, json={"text": "来自实例 A 的回复"}
    )
    assert sent.status == 200
    async with asyncio.timeout(10):
        while True:
            frame = await ws.receive_json()
            if frame["type"] == "message" and frame["sender"] == "agent":
                break
    assert frame["text"] == "来自实例 A 的回复" and frame["agent"] == "Amy"
    await ws.close()


async def test_one_customers_messages_to_both_instances_are_stored_once_each_in_order(
    pair: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    a, b = pair

    async def say(client: TestClient[Any, Any], i: int) -> None:
        resp = await client.post(
            "/webhooks/rest/webhook",
            json={"sender": "both", "message": "满多少包邮", "message_id": f"m{i}"},
        )
        assert resp.status == 200

    await asyncio.gather(*(say(a if i % 2 else b, i) for i in range(12)))
    # A retry of one of them through the other instance changes nothing.
    await say(a, 4)
    store = b.app[CONTEXT].store
    assert store is not None
    customer = await store.customers.for_identity("rest", "both")
    stored = [m for m in await store.messages.of_customer(customer.id) if m.sender == "customer"]
    assert sorted(m.external_id or "" for m in stored) == sorted(f"m{i}" for i in range(12))
    seqs = [m.seq for m in stored]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Turns ran one at a time: every customer message is followed by its own replies before
    # the next customer message begins (no interleaving of two turns).
    messages = await store.messages.of(stored[0].conversation_id)
    senders = [m.sender for m in messages]
    assert senders[0] == "customer"
    for i, sender in enumerate(senders[1:], start=1):
        if sender == "customer":
            assert senders[i - 1] != "customer", senders
