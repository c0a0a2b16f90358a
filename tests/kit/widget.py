"""The web-chat widget as connectors/web/static/widget.js runs it, for the fault tests: a line
is sent the moment it is typed and kept in an outbox until the server echoes it; a `retry` or
`rate_limited` error frame sends that one line again after `retry_after` (at least 1 s); a lost
socket is reopened (0.5 s doubling to 10 s) and, after the welcome, the whole outbox is sent
again, in order. Unlike `clients.WidgetCustomer` it never waits for an answer before the next
line, as a customer typing fast does not."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp

from tests.kit.clients import hello, widget_message, widget_url


class TypingWidget:
    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.url = widget_url(base)
        self.session = session
        self.token: str | None = None
        self.last_id = 0
        self.outbox: dict[str, str] = {}  # client_id -> text, in the order typed
        self.typed: list[str] = []  # every client_id, in the order typed
        self.frames: list[dict[str, Any]] = []  # message frames shown, in arrival order
        self.retries = 0  # retry / rate_limited frames
        self.reconnects = 0
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> TypingWidget:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, *self._sends, return_exceptions=True)
        if self.ws is not None:
            await self.ws.close()

    def type(self, text: str) -> str:
        """The customer presses Enter: sent now if the socket is up, else after the welcome."""
        cid = uuid.uuid4().hex
        self.outbox[cid] = text
        self.typed.append(cid)
        self._send(cid)
        return cid

    def answered(self) -> bool:
        """Every line echoed, and something from the server after the last one."""
        if self.outbox or not self.frames:
            return False
        return bool(self.frames[-1]["sender"] != "customer")

    def _send(self, cid: str) -> None:
        ws, text = self.ws, self.outbox.get(cid)
        if ws is None or ws.closed or text is None:
            return
        task = asyncio.create_task(ws.send_json(widget_message(text, cid)))
        self._sends.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if not task.cancelled():
            task.exception()  # a send on a dying socket: the outbox resends it on the next one

    async def _run(self) -> None:
        attempts = 0
        while True:
            try:
                ws = await self.session.ws_connect(self.url, heartbeat=None)
                await ws.send_json(hello(self.token, self.last_id, "zh"))
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    if self._frame(ws, json.loads(msg.data)):
                        attempts = 0
            except (aiohttp.ClientError, ConnectionError, OSError):
                pass
            self.ws = None
            self.reconnects += 1
            await asyncio.sleep(min(10.0, 0.5 * 2**attempts))
            attempts += 1

    def _frame(self, ws: aiohttp.ClientWebSocketResponse, f: dict[str, Any]) -> bool:
        """Handle one frame; True for a welcome."""
        kind = f.get("type")
        if kind == "welcome":
            self.token = f["token"]
            self.ws = ws
            for cid in list(self.outbox):
                self._send(cid)
            return True
        if kind == "message" and f["id"] > self.last_id:
            self.last_id = f["id"]
            self.frames.append(f)
            self.outbox.pop(f.get("client_id") or "", None)
        elif kind == "error" and f.get("code") in ("retry", "rate_limited"):
            self.retries += 1
            wait = min(60.0, max(1.0, float(f.get("retry_after") or 1)))
            asyncio.get_running_loop().call_later(wait, self._send, str(f.get("client_id")))
        return False

    def sender_key(self) -> str:
        from connectors.web.identity import sender_for

        assert self.token is not None
        return sender_for(self.token)
