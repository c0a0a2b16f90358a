"""The customers' side of the wire, for tests and benches: the REST channel's and the widget's
message shapes (docs/web-protocol.md), and clients that behave as real ones do when a server
fails them: a REST client that sends each message with an id and, on a lost connection, a
timeout or a 5xx, sends it again (to the other instance when there is one) until it is
accepted; and a widget that resends what was not acknowledged, after a `retry` error frame or on
a new socket."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.kit.invariants import Ledger

REQUEST_TIMEOUT_S = 40  # longer than a dead instance's turn lock (10 s) plus a turn
WEBHOOK = "/webhooks/rest/webhook"
MESSAGES = "/webhooks/rest/messages"  # the REST channel's long poll
SENDER_TOKEN = "X-Relaydesk-Sender-Token"  # handed out by the webhook, needed by the long poll


def rest_message(sender: str, text: str, message_id: str) -> dict[str, Any]:
    """A REST webhook body; the id makes a resend of it safe."""
    return {"sender": sender, "message": text, "message_id": message_id}


def widget_url(base: str) -> str:
    """The widget socket of the server at `base` (http://host:port)."""
    return base.replace("http://", "ws://", 1) + "/ws/widget"


def hello(token: str | None, after: int, language: str) -> dict[str, Any]:
    """The widget's first frame: its token (None: a new visitor) and the last message id shown."""
    return {"type": "hello", "token": token, "after": after, "language": language}


def widget_message(text: str, client_id: str) -> dict[str, Any]:
    """A customer's line on the widget socket; the echo carries `client_id` back."""
    return {"type": "message", "text": text, "client_id": client_id}


class RestCustomer:
    def __init__(self, name: str, urls: list[str], session: aiohttp.ClientSession, ledger: Ledger):
        self.name = name
        self.urls = urls
        self.session = session
        self.ledger = ledger
        self.sent = 0
        self.refusals: list[dict[str, Any]] = []  # the 5xx answers seen: body and seconds taken
        ledger.accepted[("rest", name)]  # known to the checks even before anything is accepted

    async def say(self, text: str, *, first: int = 0, deadline_s: float = 90) -> list[Any]:
        """Send until accepted; the replies. `first`: which instance to try first."""
        self.sent += 1
        mid = f"{self.name}-{self.sent}"
        body = rest_message(self.name, text, mid)
        give_up = time.monotonic() + deadline_s
        attempt = 0
        while True:
            url = self.urls[(first + attempt) % len(self.urls)]
            attempt += 1
            sent_at = time.monotonic()
            try:
                async with self.session.post(
                    f"{url}{WEBHOOK}",
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
                ) as r:
                    self.ledger.statuses[r.status] += 1
                    if r.status == 200:
                        self.ledger.accepted[("rest", self.name)].append(mid)
                        replies: list[Any] = await r.json()
                        return replies
                    if r.status < 500:
                        raise AssertionError(f"{mid}: {r.status} {await r.text()}")
                    body_seen = await _json(r)
                    self.refusals.append(
                        {**body_seen, "http": r.status, "after_s": time.monotonic() - sent_at}
                    )
                    wait = float(r.headers.get("Retry-After", "0.5"))
            except (aiohttp.ClientError, TimeoutError):
                wait = 0.2
            if time.monotonic() > give_up:
                raise AssertionError(f"{mid} was never accepted")
            await asyncio.sleep(wait)

    async def send_and_forget(self, url: str, text: str) -> None:
        """A client that loses its connection and never comes back: the message may be stored
        and must be answered all the same."""
        self.sent += 1
        body = rest_message(self.name, text, f"{self.name}-{self.sent}")
        try:
            async with self.session.post(
                f"{url}{WEBHOOK}", json=body, timeout=aiohttp.ClientTimeout(total=30)
            ) as r:
                if r.status == 200:
                    self.ledger.accepted[("rest", self.name)].append(body["message_id"])
        except (aiohttp.ClientError, TimeoutError):
            pass


async def _json(r: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await r.json(content_type=None)
    except ValueError:
        return {"body": await r.text()}
    return data if isinstance(data, dict) else {"body": data}


class WidgetCustomer:
    """The widget's protocol (docs/web-protocol.md): hello with a token and the last id shown,
    message frames with a client_id, acknowledged by the echo of the message."""

    def __init__(self, url: str, session: aiohttp.ClientSession, ledger: Ledger) -> None:
        self.url = widget_url(url)
        self.session = session
        self.ledger = ledger
        self.token: str | None = None
        self.last_id = 0
        self.frames: list[dict[str, Any]] = []  # every message frame, in arrival order
        self.retries = 0
        self.unacked: dict[str, str] = {}  # client_id -> text
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(self.url, heartbeat=None)
        await self.ws.send_json(hello(self.token, self.last_id, "zh"))
        while True:
            frame = await self._frame()
            if frame["type"] == "welcome":
                self.token = frame["token"]
                break
        for cid, text in self.unacked.items():  # as the widget does on every reconnect
            await self.ws.send_json(widget_message(text, cid))

    async def _frame(self) -> dict[str, Any]:
        assert self.ws is not None
        msg = await self.ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"widget socket closed ({msg.type.name})")
        frame: dict[str, Any] = json.loads(msg.data)
        if frame["type"] == "message":
            if frame["id"] <= self.last_id:  # shown already: the widget ignores it too
                return {"type": "seen"}
            self.frames.append(frame)
            self.last_id = frame["id"]
        return frame

    async def say(self, text: str, deadline_s: float = 60) -> dict[str, Any]:
        """Send until the server acknowledges it (its echo); then wait for an answer from
        the server (any message after it); that answer's frame."""
        cid = uuid.uuid4().hex
        self.unacked[cid] = text
        give_up = time.monotonic() + deadline_s
        sent = False
        while True:
            if time.monotonic() > give_up:
                raise AssertionError(f"widget message {text!r} not acknowledged and answered")
            try:
                if self.ws is None or self.ws.closed:
                    await self.connect()
                    sent = True  # connect() resent it
                if not sent:
                    assert self.ws is not None
                    await self.ws.send_json(widget_message(text, cid))
                    sent = True
                async with asyncio.timeout(max(0.1, give_up - time.monotonic())):
                    frame = await self._frame()
            except (aiohttp.ClientError, ConnectionError, OSError):
                self.ws, sent = None, False
                await asyncio.sleep(0.3)
                continue
            except TimeoutError:
                continue
            if frame["type"] == "error" and frame.get("code") == "retry":
                self.retries += 1
                await asyncio.sleep(float(frame.get("retry_after", 1)))
                sent = False
                continue
            if frame["type"] != "message":
                continue
            if frame.get("client_id") == cid:
                self.unacked.pop(cid, None)
                self.ledger.accepted[("web", self.sender_key())].append(cid)
            elif cid not in self.unacked and frame["sender"] != "customer":
                return frame

    async def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
        """Read frames until `done(frames)` holds for the message frames received so far."""
        async with asyncio.timeout(timeout):
            while not done(self.frames):
                await self._frame()

    def sender_key(self) -> str:
        from connectors.web.identity import sender_for

        assert self.token is not None
        return sender_for(self.token)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
