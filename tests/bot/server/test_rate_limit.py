"""Rate limits: per address on every request, per customer on every message; over the limit a
clear 429 (or an error frame on the widget socket) and nothing stored."""

from __future__ import annotations

import time
import uuid
from typing import Any

from redis import asyncio as aioredis

from bot.config import RateLimits
from bot.http.rate_limit import RateLimiter, SharedRateLimiter
from bot.server.context import CONTEXT
from tests.apps import AppFactory, RawEdit
from tests.bot.test_coordination import REDIS


def limited(redis_url: str | None = None, **limits: Any) -> RawEdit:
    """A config edit: these rate limits, and Redis to share them through (or none)."""

    def edit(raw: dict[str, Any]) -> None:
        raw["server"]["rate_limits"] = RateLimits(**limits).model_dump()
        raw["server"]["redis_url"] = redis_url

    return edit


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)  # one a second after a burst of three
    assert [limiter.check("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.check("k")
    assert 0.9 < wait <= 1.0
    assert limiter.check("other") == 0.0  # keys are independent
    time.sleep(1.05)
    assert limiter.check("k") == 0.0


async def test_a_customer_over_the_limit_gets_429_and_nothing_is_stored(
    make_client: AppFactory,
) -> None:
    edit = limited(ip_per_minute=0, customer_per_minute=6, customer_burst=2)
    client = await make_client(edit=edit)
    hook = "/webhooks/rest/webhook"
    for i in range(2):
        ok = await client.post(hook, json={"sender": "fast", "message": f"你好 {i}"})
        assert ok.status == 200
    refused = await client.post(hook, json={"sender": "fast", "message": "第三条"})
    assert refused.status == 429
    body = await refused.json()
    assert "too many messages" in body["message"] and int(refused.headers["Retry-After"]) >= 1
    other = await client.post(hook, json={"sender": "calm", "message": "你好"})
    assert other.status == 200  # another customer is not held back
    store = client.app[CONTEXT].store
    assert store is not None
    customer = await store.customers.for_identity("rest", "fast")
    texts = [
        m.text for m in await store.messages.of_customer(customer.id) if m.sender == "customer"
    ]
    assert texts == ["你好 0", "你好 1"]  # the refused one was not stored

    ws = await client.ws_connect("/ws/widget")
    await ws.send_json({"type": "hello", "token": None, "after": 0})
    for i in range(3):
        await ws.send_json({"type": "message", "text": f"hi {i}", "client_id": f"c{i}"})
    frames: list[dict[str, Any]] = []
    while not any(f.get("code") == "rate_limited" for f in frames):
        frames.append(await ws.receive_json(timeout=10))
    error = next(f for f in frames if f.get("code") == "rate_limited")
    assert error["client_id"] == "c2" and error["retry_after"] > 0
    await ws.close()


async def test_an_address_over_the_limit_gets_429_on_any_route(
    make_client: AppFactory,
) -> None:
    edit = limited(ip_per_minute=8, customer_per_minute=0)
    client = await make_client(dialogue=False, edit=edit)
    statuses = [(await client.get("/health")).status for _ in range(2)]  # burst: 8 // 4 = 2
    assert statuses == [200, 200]
    refused = await client.post("/model/parse", json={"text": "你好"})
    assert refused.status == 429 and "from this address" in (await refused.json())["message"]


async def test_instances_sharing_redis_share_one_customer_bucket(
    make_client: AppFactory,
) -> None:
    """Behind a load balancer one customer's messages reach every instance in turn; the limit
    must hold for their sum, not for each instance's share."""
    edit = limited(REDIS, ip_per_minute=0, customer_per_minute=6, customer_burst=2)
    clients = [await make_client(edit=edit, folder=name) for name in ("a", "b")]
    a, b = clients
    sender = f"spread-{uuid.uuid4().hex[:8]}"
    hook = "/webhooks/rest/webhook"
    assert (await a.post(hook, json={"sender": sender, "message": "你好"})).status == 200
    assert (await b.post(hook, json={"sender": sender, "message": "在吗"})).status == 200
    refused = await a.post(hook, json={"sender": sender, "message": "第三条"})
    assert refused.status == 429  # instance a alone has seen one message: only Redis knows
    assert 1 <= int(refused.headers["Retry-After"]) <= 10


async def test_a_shared_bucket_falls_back_to_its_own_while_redis_is_away() -> None:
    unreachable = aioredis.from_url(  # type: ignore[no-untyped-call]
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.5
    )
    limiter = SharedRateLimiter(unreachable, "test", RateLimiter(per_minute=60, burst=2))
    try:
        waits = [await limiter.check("k") for _ in range(3)]
    finally:
        await unreachable.aclose()
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0  # still limited, by this instance alone
