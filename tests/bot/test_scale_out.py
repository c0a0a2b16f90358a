"""Two server instances sharing PostgreSQL and Redis: what an agent says through one reaches a
customer whose widget socket is held by the other, and one customer's messages sent to both at
once are all stored, each once, in one order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Config, config_from_dict
from bot.nlu.pipeline import NLUPipeline
from bot.server.app import create_app
from bot.server.runtime import RUNTIME
from tests.bot.test_coordination import REDIS
from tests.conftest import server_config

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def instance_config(repo_config: Config, tmp: Path, kb: Path, database: str) -> Config:
    base = server_config(repo_config, tmp, kb, dev_agent_api=True, always_open=True)
    raw = base.model_dump(exclude={"base_dir"})
    raw["pipeline"] = base.pipeline_spec()
    raw["storage"]["url"] = database
    raw["server"]["redis_url"] = REDIS
    return config_from_dict(raw, base_dir=base.base_dir)


@pytest.fixture
async def pair(
    aiohttp_client: ClientFactory,
    repo_config: Config,
    trained: NLUPipeline,
    tmp_path: Path,
    kb_dir: Path,
    database: str,
) -> tuple[TestClient[Any, Any], TestClient[Any, Any]]:
    clients = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        config = instance_config(repo_config, tmp_path / name, kb_dir, database)
        clients.append(await aiohttp_client(create_app(config, trained, dialogue=True)))
    return clients[0], clients[1]


async def test_an_agent_on_one_instance_reaches_a_widget_on_the_other(
    pair: tuple[TestClient[Any, Any], TestClient[Any, Any]],
) -> None:
    a, b = pair
    store = a.app[RUNTIME].store
    assert store is not None
    await store.add_agent("amy", "Amy", skills=["after_sales"], status="online")
    ws = await b.ws_connect("/ws/widget")
    await ws.send_json({"type": "hello", "token": None, "after": 0, "language": "zh"})
    await ws.send_json({"type": "message", "text": "转人工", "client_id": "m1"})
    cid = None
    async with asyncio.timeout(10):
        while cid is None:
            frame = await ws.receive_json()
            if frame["type"] == "state" and frame["status"] == "queued":
                cid = (await store.handoff_views())[0]["conversation_id"]
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
    store = b.app[RUNTIME].store
    assert store is not None
    customer = await store.customer_for("rest", "both")
    stored = [m for m in await store.customer_messages(customer.id) if m.sender == "customer"]
    assert sorted(m.external_id or "" for m in stored) == sorted(f"m{i}" for i in range(12))
    seqs = [m.seq for m in stored]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Turns ran one at a time: every customer message is followed by its own replies before
    # the next customer message begins (no interleaving of two turns).
    messages = await store.messages(stored[0].conversation_id)
    senders = [m.sender for m in messages]
    assert senders[0] == "customer"
    for i, sender in enumerate(senders[1:], start=1):
        if sender == "customer":
            assert senders[i - 1] != "customer", senders
