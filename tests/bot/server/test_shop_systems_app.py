"""The shop's systems wired through config.yml into the real app: the order API (an aiohttp
server playing the shop), the custom actions (the real rasa_sdk action server) and a webhook
receiver, all started by this test, reached the way a deployment reaches them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.webhooks.signing import HEADER, verify
from tests.apps import AppFactory, add_agent, ask_for_a_person, say
from tests.kit.action_server import ACTIONS_DIR, running_action_server
from tests.kit.processes import until

SECRET = "crm-secret-for-the-app-test"
KEY = "Bearer app-test-key"


@pytest.fixture(scope="module")
def action_server() -> Iterator[str]:
    with running_action_server() as url:
        yield url


@pytest.fixture
async def shop() -> AsyncIterator[str]:
    """The shop's order API; its URL template."""

    async def order(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != KEY:
            return web.json_response({}, status=401)
        number = request.match_info["number"]
        if number != "202612010001":
            return web.json_response({}, status=404)
        return web.json_response(
            {"order": {"no": number, "state": "shipped", "goods": "Kite X6", "waybill": "SF77"}}
        )

    app = web.Application()
    app.router.add_get("/orders/{number}", order)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("/orders/")) + "{order_id}"
    await server.close()


@pytest.fixture
async def crm() -> AsyncIterator[tuple[str, list[tuple[bytes, str | None]]]]:
    """A webhook receiver: its URL and what it received (body, signature)."""
    seen: list[tuple[bytes, str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        seen.append((await request.read(), request.headers.get(HEADER)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app)
    await server.start_server()
    yield str(server.make_url("/hook")), seen
    await server.close()


async def test_orders_actions_and_webhooks_configured_in_config_yml(
    make_client: AppFactory,
    shop: str,
    action_server: str,
    crm: tuple[str, list[tuple[bytes, str | None]]],
) -> None:
    crm_url, seen = crm

    def edit(raw: dict[str, Any]) -> None:
        raw["integrations"] = {
            "orders": {
                "source": "http",
                "url": shop,
                "headers": {"Authorization": KEY},
                "fields": {
                    "order_id": "order.no",
                    "status": "order.state",
                    "items": "order.goods",
                    "tracking": "order.waybill",
                },
            },
            "actions": {"url": action_server, "rules": str(ACTIONS_DIR / "rules.yml")},
            "webhooks": {
                "poll_seconds": 0.1,
                "endpoints": [
                    {
                        "name": "crm",
                        "url": crm_url,
                        "secret": SECRET,
                        "events": ["conversation.started", "handoff.*"],
                    }
                ],
            },
        }

    client = await make_client(edit=edit)
    replies = await say(client, "shopper", "where is my order 202612010001")
    assert "SF77" in replies[-1]["text"] and "Kite X6" in replies[-1]["text"]
    replies = await say(client, "member", "你好")
    assert replies[-1]["text"] == "金卡会员您好！这是第 1 次光临。"  # the rasa_sdk action
    await add_agent(client, "amy", skills=["after_sales"])  # online: the chat queues for her
    conversation_id = await ask_for_a_person(client, "member")

    def types() -> list[str]:
        return [json.loads(body)["type"] for body, _ in seen]

    async def told() -> bool:
        return "handoff.requested" in types()

    await until(told, 20, "the CRM told about the handoff")
    await asyncio.sleep(0.5)
    assert sorted(types()) == ["conversation.started", "conversation.started", "handoff.requested"]
    for body, signature in seen:
        assert verify(SECRET, body, signature)
    handoff = next(json.loads(b) for b, _ in seen if b"handoff.requested" in b)
    assert handoff["data"]["conversation_id"] == conversation_id
