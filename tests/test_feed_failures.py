"""A socket's feed that fails for a reason it does not wait out (not a database outage) logs the
error and closes its socket with 1011, so the client reconnects, instead of leaving the socket
open with a dead feed: the console's feeds (handoff/console/socket.py) and the widget's
delivery pump (connectors/web/socket.py)."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode

from bot.events import MessageEvent
from tests.apps import FRAME_TIMEOUT_S, WS, Client, add_agent, login, store_of


class Broken(RuntimeError):
    """An error nobody expects (not StoreUnavailableError)."""


def broken(*_a: Any, **_k: Any) -> Any:
    raise Broken("repository exploded")


async def closed_with(ws: WS) -> int | None:
    """Read until the server closes the socket; its close code."""
    while True:
        msg = await ws.receive(timeout=FRAME_TIMEOUT_S * 2)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return ws.close_code
        assert msg.type == aiohttp.WSMsgType.TEXT, msg


async def test_a_console_feed_that_fails_closes_its_socket(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await add_agent(client, "amy", skills=["after_sales"])
    session = await login(client, "amy")
    ws = await client.ws_connect("/ws/console", headers=session.cookie)
    first = json.loads((await ws.receive(timeout=FRAME_TIMEOUT_S)).data)
    assert first["type"] == "queue"
    store = store_of(client)
    monkeypatch.setattr(store.handoffs, "views", broken)
    caplog.set_level(logging.ERROR, logger="handoff.console.socket")
    await store.bus.publish(MessageEvent("c-any", 1, "customer"))  # the lists are re-read
    assert await closed_with(ws) == WSCloseCode.INTERNAL_ERROR
    failed = [r for r in caplog.records if "console-lists:amy failed" in r.getMessage()]
    assert failed and "Broken: repository exploded" in (failed[0].exc_text or "")  # redacted


async def test_a_widget_pump_that_fails_closes_its_socket(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await client.ws_connect("/ws/widget")
    await ws.send_json({"type": "hello"})
    while json.loads((await ws.receive(timeout=FRAME_TIMEOUT_S)).data)["type"] != "state":
        pass
    store = store_of(client)
    monkeypatch.setattr(store.messages, "on_channel", broken)
    caplog.set_level(logging.ERROR, logger="connectors.web.socket")
    await ws.send_json({"type": "message", "text": "你好", "client_id": "m1"})
    assert await closed_with(ws) == WSCloseCode.INTERNAL_ERROR
    failed = [r for r in caplog.records if "widget-pump" in r.getMessage()]
    assert failed and "Broken: repository exploded" in (failed[0].exc_text or "")  # redacted
