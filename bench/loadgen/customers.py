"""Simulated customers that measure: one on the REST channel (each message to the next
instance, long polls to the one after) and one on the widget socket (one instance per session,
resumed on the next halfway). Each keeps a `Log` of what it sent, what was acknowledged and
what it received, with timings, for the checks afterwards."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.kit.clients import MESSAGES, SENDER_TOKEN, WEBHOOK, hello, rest_message, widget_url


@dataclass
class Log:
    """What one simulated customer sent and received, for the checks afterwards."""

    kind: str  # rest | web
    key: str
    handoff: bool = False
    sender: str = ""  # the REST sender, or the widget's token
    sent: list[tuple[str, str]] = field(default_factory=list)  # (external id, text)
    acked: set[str] = field(default_factory=set)
    received: list[tuple[str, int, str]] = field(default_factory=list)  # (conv, seq, sender)
    replies: dict[str, list[int]] = field(default_factory=dict)  # bot turn -> reply seqs
    bot_ms: list[float] = field(default_factory=list)
    agent_ms: list[float] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    step: str = ""  # what the session was doing, for a message if it stops
    escalated_by: str = ""  # the line whose turn handed the chat over


class GaveUp(Exception):
    """A customer stops their session: no answer in time, or the server refused a message."""


class RestCustomer:
    """The Rasa REST channel: each message to the next instance, long polls to the one after."""

    def __init__(self, log: Log, http: aiohttp.ClientSession, urls: list[str], first: int) -> None:
        self.log, self.http, self.urls, self.k = log, http, urls, first
        self.status = "bot"
        self.cursor = 0
        self.conversation = ""
        self.token = ""  # the sender token the webhook hands out; the long poll needs it
        log.sender = f"load-{log.key}"

    def _url(self) -> str:
        self.k += 1
        return self.urls[self.k % len(self.urls)]

    def _got(self, item: dict[str, Any], sender: str) -> None:
        custom = item.get("custom") or {}
        self.conversation = custom.get("conversation_id", self.conversation)
        self.log.received.append((self.conversation, custom["seq"], custom.get("sender", sender)))
        self.cursor = max(self.cursor, custom["seq"])

    async def _post(self, text: str, ext: str) -> tuple[float, list[dict[str, Any]]]:
        self.log.sent.append((ext, text))
        started = time.perf_counter()
        async with self.http.post(
            f"{self._url()}{WEBHOOK}",
            json=rest_message(self.log.sender, text, ext),
        ) as r:
            body = await r.json() if r.status == 200 else None
            if body is None:
                self.log.errors.append(f"webhook {r.status}: {await r.text()}")
                raise GaveUp
            self.status = r.headers.get("X-Relaydesk-Status", self.status)
            self.token = r.headers.get(SENDER_TOKEN, self.token)
        self.log.acked.add(ext)
        return started, body

    async def bot_turn(self, text: str, ext: str, timeout_s: float) -> None:
        started, replies = await self._post(text, ext)
        for item in replies:
            self._got(item, "bot")
        self.log.replies[ext] = [item["custom"]["seq"] for item in replies]
        if replies:
            now = time.perf_counter()
            self.log.bot_ms.append((now - started) * 1000)
            self.log.answered_at.append(now)
        elif self.status == "bot":
            self.log.errors.append(f"no reply to {ext}")

    async def agent_turn(self, text: str, ext: str, tag: str, timeout_s: float) -> None:
        started, replies = await self._post(text, ext)
        for item in replies:  # none while an agent holds the chat
            self._got(item, "bot")
        await self._poll_until(lambda m: f"[re:{tag}]" in m.get("text", ""), timeout_s)
        now = time.perf_counter()
        self.log.agent_ms.append((now - started) * 1000)
        self.log.answered_at.append(now)

    async def wait_agent(self, timeout_s: float) -> None:
        await self._poll_until(lambda m: m["custom"]["sender"] == "agent", timeout_s)
        self.status = "assigned"

    async def wait_rating_request(self, timeout_s: float) -> None:
        await self._poll_until(lambda m: m["custom"]["sender"] == "bot", timeout_s)
        self.status = "resolved"

    async def rate(self, comment: str, ext: str, timeout_s: float) -> None:
        await self.bot_turn(f"/rate 5 {comment}", ext, timeout_s)

    async def _poll_until(self, wanted: Any, timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise GaveUp
            async with self.http.get(
                f"{self._url()}{MESSAGES}",
                params={
                    "sender": self.log.sender,
                    "after": self.cursor,
                    "wait": min(10, max(1, int(left))),
                },
                headers={SENDER_TOKEN: self.token},
            ) as r:
                if r.status != 200:
                    self.log.errors.append(f"poll {r.status}: {await r.text()}")
                    raise GaveUp
                found = await r.json()
            hit = False
            for item in found:
                self._got(item, item["custom"]["sender"])
                hit = hit or wanted(item)
            if hit:
                return

    async def finish(self) -> None:
        """A last poll, as the client's next one would be: anything stored and not yet seen."""
        if self.conversation:
            async with self.http.get(
                f"{self._url()}{MESSAGES}",
                params={"sender": self.log.sender, "after": self.cursor},
                headers={SENDER_TOKEN: self.token},
            ) as r:
                for item in await r.json():
                    self._got(item, item["custom"]["sender"])


class WebCustomer:
    """The widget's socket: one instance per session, then a resume on the next one halfway."""

    def __init__(self, log: Log, http: aiohttp.ClientSession, urls: list[str], first: int) -> None:
        self.log, self.http, self.urls, self.k = log, http, urls, first
        self.status = "bot"
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()
        self.frames = 0  # frames read so far: "after this one" is an index
        self.last_state = -1
        self.cursor = 0
        self.echo: dict[str, tuple[str, int]] = {}  # client_id -> (conversation, seq)
        self.messages: list[tuple[int, float, dict[str, Any]]] = []  # (frame index, time, frame)

    async def connect(self, language: str, timeout_s: float) -> None:
        url = widget_url(self.urls[self.k % len(self.urls)])
        self.ws = await self.http.ws_connect(url, heartbeat=None)
        token = self.log.sender or None
        await self.ws.send_str(json.dumps(hello(token, self.cursor, language)))
        self.reader = asyncio.create_task(self._read())
        await self._until(lambda: bool(self.log.sender) and self.last_state >= 0, timeout_s)

    async def reconnect(self, language: str, timeout_s: float) -> None:
        await self.close()
        self.k += 1
        self.last_state = -1
        await self.connect(language, timeout_s)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.frames += 1
            kind = frame["type"]
            if kind == "welcome":
                self.log.sender = frame["token"]
            elif kind == "state":
                self.status = frame["status"]
                self.last_state = self.frames
            elif kind == "error":
                self.log.errors.append(f"error frame: {frame}")
            elif kind == "message":
                self.cursor = max(self.cursor, frame["id"])
                cid, seq = frame["conversation_id"], frame["seq"]
                self.log.received.append((cid, seq, frame["sender"]))
                if frame["sender"] == "customer" and frame["client_id"]:
                    self.echo[frame["client_id"]] = (cid, seq)
                    self.log.acked.add(frame["client_id"])
                self.messages.append((self.frames, time.perf_counter(), frame))
            self.changed.set()

    async def _until(self, ready: Any, timeout_s: float) -> Any:
        deadline = time.perf_counter() + timeout_s
        while True:
            found = ready()
            if found:
                return found
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0 or (self.reader is not None and self.reader.done()):
                raise GaveUp
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                raise GaveUp from None

    def _after_echo(self, ext: str, wanted: Any) -> Any:
        """The first message after the echo of `ext` (same conversation) that `wanted` accepts."""
        if ext not in self.echo:
            return None
        cid, seq = self.echo[ext]
        return next(
            (
                (i, t, f)
                for i, t, f in self.messages
                if f["conversation_id"] == cid and f["seq"] > seq and wanted(f)
            ),
            None,
        )

    async def _send(self, frame: dict[str, Any], text: str, ext: str) -> float:
        self.log.sent.append((ext, text))
        started = time.perf_counter()
        await self.ws.send_str(json.dumps({**frame, "client_id": ext}))
        return started

    async def bot_turn(self, text: str, ext: str, timeout_s: float) -> None:
        started = await self._send({"type": "message", "text": text}, text, ext)
        await self._bot_answer(ext, started, timeout_s)

    async def _bot_answer(self, ext: str, started: float, timeout_s: float) -> None:
        index, at, _ = await self._until(
            lambda: self._after_echo(ext, lambda f: f["sender"] == "bot"), timeout_s
        )
        self.log.bot_ms.append((at - started) * 1000)
        self.log.answered_at.append(at)
        # The state frame that follows the reply says whether the bot still holds the chat.
        await self._until(lambda: self.last_state > index, timeout_s)
        cid, seq = self.echo[ext]
        self.log.replies[ext] = [
            f["seq"]
            for _, _, f in self.messages
            if f["conversation_id"] == cid and f["seq"] > seq and f["sender"] == "bot"
        ]

    async def agent_turn(self, text: str, ext: str, tag: str, timeout_s: float) -> None:
        started = await self._send({"type": "message", "text": text}, text, ext)
        _, at, _ = await self._until(
            lambda: self._after_echo(ext, lambda f: f"[re:{tag}]" in f["text"]), timeout_s
        )
        self.log.agent_ms.append((at - started) * 1000)
        self.log.answered_at.append(at)

    async def wait_agent(self, timeout_s: float) -> None:
        await self._until(lambda: self.status == "assigned", timeout_s)

    async def wait_rating_request(self, timeout_s: float) -> None:
        await self._until(
            lambda: self.messages and self.messages[-1][2]["sender"] == "bot", timeout_s
        )

    async def rate(self, comment: str, ext: str, timeout_s: float) -> None:
        text = f"/rate 5 {comment}"
        started = await self._send({"type": "rate", "score": 5, "comment": comment}, text, ext)
        await self._bot_answer(ext, started, timeout_s)

    async def finish(self) -> None:
        await self.close()  # everything came over the socket already
