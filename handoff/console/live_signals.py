"""The console socket's live signals (contract C4): what the agent's console says about a chat
that is not a message, and what it hears of the customer's side.

Console → server, each validated and checked against the agent's rights before it reaches the
signal bus (bot/events.py, shared by instances through Redis):
- `{"type": "typing", "conversation_id", "on": bool}`: only in a chat the agent holds. The
  console sends "on" at most every 3 s; the relay passes at most one "on" per chat per
  TYPING_ON_FLOOR_S whatever a client sends, and an "off" only after an "on".
- `{"type": "read", "conversation_id", "up_to": id}`: in a chat the agent may see; moves the
  agents' read mark (bot/store/read_marks.py) and, when it moved, publishes a receipt.

Server → console, for the chats the agent holds or watches: the customer's typing
(`{"type": "typing", "conversation_id", "on", "who": "customer"}`) and receipts
(`{"type": "receipt", "conversation_id", "received_up_to", "read_up_to"}`: how far the customer
has received and read the agents' and the bot's messages).

Signals are best-effort: a full queue (a console that cannot keep up) drops them, and a socket
that closes while its agent was typing says "off" for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from bot.errors import InputError, StoreUnavailableError
from bot.events import Signal, SignalBus
from bot.store.errors import NotFoundError
from bot.store.records import AgentRecord
from bot.store.sql_store import SqlStore
from handoff.console.agent_api import may_see

log = logging.getLogger(__name__)
TYPING_ON_FLOOR_S = 1.0
MAX_QUEUED = 200
MAX_ID_CHARS = 64


class Feed(Protocol):
    """What the relay needs of the console feed it serves."""

    store: SqlStore
    agent: AgentRecord
    watched: set[str]
    held: set[str]

    async def send(self, frame: dict[str, Any]) -> None: ...


class SignalRelay:
    def __init__(self, feed: Feed, bus: SignalBus) -> None:
        self.feed = feed
        self.bus = bus
        self.queue: asyncio.Queue[Signal] = asyncio.Queue(MAX_QUEUED)
        self.typing_since: dict[str, float] = {}  # chats where this agent is typing: last "on"
        self.read_sent: dict[str, int] = {}  # the highest `up_to` already marked, per chat

    # -- customer → this console ------------------------------------------------------------
    def _on_signal(self, signal: Signal) -> None:
        cid = signal.conversation_id
        if signal.sender != "customer" or (
            cid not in self.feed.held and cid not in self.feed.watched
        ):
            return
        try:
            self.queue.put_nowait(signal)
        except asyncio.QueueFull:  # a console this far behind misses an indicator, no more
            log.debug("console %s dropped a %s signal", self.feed.agent.username, signal.kind)

    async def run(self) -> None:
        """Send the customer's signals to the console until cancelled."""
        unsubscribe = self.bus.subscribe(self._on_signal)
        try:
            while True:
                frame = signal_frame(await self.queue.get())
                if frame is not None:
                    await self.feed.send(frame)
        finally:
            unsubscribe()

    # -- this console → the customer ---------------------------------------------------------
    async def frame(self, frame: dict[str, Any]) -> None:
        """Handle a `typing` or `read` frame; a refusal is answered with an `error` frame."""
        cid = frame.get("conversation_id")
        if not isinstance(cid, str) or not cid or len(cid) > MAX_ID_CHARS:
            await self._error("invalid", f"{frame['type']} needs a conversation_id")
            return
        try:
            if frame["type"] == "typing":
                await self._typing(cid, frame)
            else:
                await self._read(cid, frame)
        except NotFoundError:
            await self._error("not_found", f"no conversation {cid}")
        except InputError as exc:
            await self._error("invalid", str(exc))
        except StoreUnavailableError as exc:  # the mark waits for the console's next read
            log.warning("console %s: read mark not stored: %s", self.feed.agent.username, exc)
            await self._error("unavailable", "the database is away for a moment")

    async def _typing(self, cid: str, frame: dict[str, Any]) -> None:
        on = frame.get("on")
        if not isinstance(on, bool):
            await self._error("invalid", 'typing needs "on": true or false')
            return
        now = time.monotonic()
        last = self.typing_since.get(cid)
        if on and last is not None and now - last < TYPING_ON_FLOOR_S:
            return  # still typing, said moments ago
        if not on and last is None:
            return  # "off" for a chat the customer never saw as typing
        if on:
            h = await self.feed.store.handoffs.active(cid)
            if h is None or h.status != "assigned" or h.assigned_to != self.feed.agent.id:
                await self._error("not_holder", "typing only in a chat you hold")
                return
            self.typing_since[cid] = now
        else:
            self.typing_since.pop(cid, None)
        await self._publish_typing(cid, on)

    async def _read(self, cid: str, frame: dict[str, Any]) -> None:
        up_to = frame.get("up_to")
        if not isinstance(up_to, int) or isinstance(up_to, bool) or up_to <= 0:
            await self._error("invalid", 'read needs "up_to": a message id')
            return
        if up_to <= self.read_sent.get(cid, 0):
            return  # marked already from this console
        store = self.feed.store
        conv = await store.conversations.get(cid)
        if not await may_see(store, self.feed.agent, conv):
            await self._error("forbidden", "this conversation is not in your queue or your chats")
            return
        marks = await store.read_marks.mark(cid, "agent", read_up_to=up_to)
        self.read_sent[cid] = up_to
        if marks.changed:
            await self.bus.publish(Signal(cid, "receipt", "agent", marks.to_json()))

    async def _publish_typing(self, cid: str, on: bool) -> None:
        data = {"on": on, "name": self.feed.agent.display_name}
        await self.bus.publish(Signal(cid, "typing", "agent", data))

    async def _error(self, code: str, message: str) -> None:
        await self.feed.send({"type": "error", "code": code, "message": message})

    async def close(self) -> None:
        """The socket closed: the customer stops seeing this agent typing."""
        for cid in list(self.typing_since):
            self.typing_since.pop(cid, None)
            with contextlib.suppress(Exception):  # best-effort, like every signal
                await self._publish_typing(cid, False)


def signal_frame(signal: Signal) -> dict[str, Any] | None:
    """The console frame for a customer's signal; None for one it has no frame for."""
    cid, data = signal.conversation_id, signal.data
    if signal.kind == "typing":
        on = data.get("on") is True
        return {"type": "typing", "conversation_id": cid, "on": on, "who": "customer"}
    if signal.kind == "receipt":
        marks = {k: data.get(k) for k in ("received_up_to", "read_up_to")}
        if not all(v is None or _is_id(v) for v in marks.values()):
            return None
        return {"type": "receipt", "conversation_id": cid, **marks}
    return None


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
