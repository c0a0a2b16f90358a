"""The real app under test, in-process: one factory for its config and client, and the helpers
every HTTP test used to copy (the app's store, agents with console passwords, console logins, a
REST turn). The fixtures that use them (`make_client`, `client`) are in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from bot.config import Config, config_from_dict
from bot.nlu.pipeline import NLUPipeline
from bot.server.app import create_app
from bot.server.context import CONTEXT
from bot.store.sql_store import SqlStore
from handoff.console.accounts import Accounts
from handoff.console.auth import COOKIE, CSRF_HEADER

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]
RawEdit = Callable[[dict[str, Any]], None]  # changes a config's plain data in place
AppFactory = Callable[..., Awaitable[Client]]  # the make_client fixture
Frame = dict[str, Any]
WS = aiohttp.ClientWebSocketResponse

FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)  # tests only
PASSWORD = "a long enough password"
HOOK = "/webhooks/rest/webhook"
LOGIN = "/api/console/login"
FRAME_TIMEOUT_S = 20.0


def edit_config(config: Config, edit: RawEdit) -> Config:
    """`config` with its plain data changed by `edit` (a new, validated Config)."""
    raw = config.model_dump(exclude={"base_dir"})
    raw["pipeline"] = config.pipeline_spec()
    edit(raw)
    return config_from_dict(raw, base_dir=config.base_dir)


async def start_app(
    factory: ClientFactory, config: Config, nlu: NLUPipeline, *, dialogue: bool = True
) -> Client:
    """The app built by `create_app`, served to a test client by `factory` (aiohttp_client)."""
    return await factory(create_app(config, nlu, dialogue=dialogue))


async def ask_for_a_person(client: Client, sender: str) -> str:
    """`sender` asks the REST channel for a person, and the chat queues; its conversation id."""
    resp = await client.post(HOOK, json={"sender": sender, "message": "转人工"})
    assert resp.headers["X-Relaydesk-Status"] == "queued", await resp.text()
    cid: str = (await resp.json())[-1]["custom"]["conversation_id"]
    return cid


def store_of(client: Client) -> SqlStore:
    """The app's store, which the runtime opened."""
    store: SqlStore | None = client.app[CONTEXT].store
    assert store is not None
    return store


async def add_agent(
    client: Client, username: str, *, password: str = PASSWORD, **fields: Any
) -> None:
    """An agent named `username` (display name in title case), online unless `fields` say
    otherwise, with a console password."""
    store = store_of(client)
    await store.agents.add(username, username.title(), **{"status": "online", **fields})
    await Accounts(store, hasher=FAST).set_password(username, password)


@dataclass
class Session:
    """One logged-in agent; the cookie is sent explicitly, so several agents share a client."""

    token: str
    csrf: str
    agent: dict[str, Any] = field(default_factory=dict)

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={self.token}"}

    @property
    def writes(self) -> dict[str, str]:
        """The cookie and the CSRF header every console POST needs."""
        return {**self.cookie, CSRF_HEADER: self.csrf}


async def login(client: Client, username: str, *, password: str = PASSWORD) -> Session:
    """A fresh console login; the client's cookie jar is cleared, so each session sends its own
    cookie (or none)."""
    resp = await client.post(LOGIN, json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    session = Session(cookie.value, body["csrf"], body.get("agent") or {})
    client.session.cookie_jar.clear()
    return session


async def say(client: Client, sender: str, text: str, **extra: Any) -> list[dict[str, Any]]:
    """One turn on the REST channel, which must be accepted; the bot's replies."""
    resp = await client.post(HOOK, json={"sender": sender, "message": text, **extra})
    assert resp.status == 200, await resp.text()
    replies: list[dict[str, Any]] = await resp.json()
    return replies


async def recv(ws: WS, timeout: float = FRAME_TIMEOUT_S) -> Frame:
    """The socket's next frame, which must be a JSON object in a text message."""
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg}"
    frame = json.loads(msg.data)
    assert isinstance(frame, dict)
    return frame


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`relaydesk ARGS` (python -m bot) run in `cwd` as a child process, its output captured;
    `env` over this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


async def until(check: Callable[[], Any], timeout: float = 10.0, every: float = 0.05) -> Any:
    """Wait for a server-side condition (a plain or async callable) and return its truthy value;
    browsers wait with Playwright's own expectations instead."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        if loop.time() > end:
            raise AssertionError(f"condition not met in {timeout} s")
        await asyncio.sleep(every)
