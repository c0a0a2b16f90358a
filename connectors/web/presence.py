"""Typing and delivered/read marks for one widget socket (docs/web-protocol.md, Widget).

Customer → agents: the widget's `typing` frames become typing signals, its `received` / `read`
frames move the customer's read marks in the store (which never move backwards) and, when they
moved, a receipt signal tells the console. Agents → customer: agent typing and the agents' read
marks on the customer's messages arrive as signals and are queued as frames for the socket's
one sender (its pump), so frames never interleave mid-write.

Signals are best-effort (bot.events): a lost one costs a moment's indicator; marks are stored,
so a reconnecting widget is sent the current ones at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.events import Signal, SignalBus
from bot.store.sql_store import SqlStore

log = logging.getLogger(__name__)
MIN_TYPING_GAP_S = 1.0  # the widget sends `on` at most every 3 s; this guards the bus from floods
MAX_CONVERSATION_ID = 64
MAX_QUEUED = 50


class FrameError(ValueError):
    """A typing/received/read frame that cannot be used; the message says which field."""


class Presence:
    """The live half of one widget socket: its typing and marks, both ways."""

    def __init__(self, store: SqlStore, signals: SignalBus, wake: Callable[[], None]) -> None:
        self.store = store
        self.signals = signals
        self._wake = wake
        self.frames: list[dict[str, Any]] = []  # for the pump to send
        self._unsubscribe: Callable[[], None] | None = None
        self._conversation: str | None = None
        self._typing_on_at = 0.0
        self._typing = False

    # -- agents -> customer ------------------------------------------------------------------
    def watch(self, conversation_id: str) -> None:
        if conversation_id == self._conversation:
            return
        self.close()
        self._conversation = conversation_id
        self._unsubscribe = self.signals.subscribe(self._heard, conversation_id)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _heard(self, signal: Signal) -> None:
        if signal.sender != "agent":
            return  # the customer's own signals (this or another tab) are for the console
        if signal.kind == "typing":
            name = signal.data.get("name")
            self.frames.append(
                {
                    "type": "typing",
                    "on": signal.data.get("on") is True,
                    "who": "agent",
                    "name": name if isinstance(name, str) else None,
                }
            )
        elif signal.kind == "receipt":
            self.frames.append(_receipt(signal.conversation_id, signal.data))
        else:
            return
        del self.frames[:-MAX_QUEUED]  # a stalled socket keeps the newest, not all
        self._wake()

    async def current(self, conversation_id: str) -> dict[str, Any] | None:
        """The agents' marks on the customer's messages, as a `receipt` frame (None: none)."""
        marks = (await self.store.read_marks.get(conversation_id)).get("agent")
        if marks is None or (marks.read_up_to is None and marks.received_up_to is None):
            return None
        return _receipt(
            conversation_id,
            {"read_up_to": marks.read_up_to, "received_up_to": marks.received_up_to},
        )

    # -- customer -> agents ------------------------------------------------------------------
    async def typing(self, frame: dict[str, Any], conversation_id: str | None) -> None:
        on = frame.get("on")
        if not isinstance(on, bool):
            raise FrameError("'on' must be true or false")
        if conversation_id is None:
            return  # nobody to tell yet: the first message opens the conversation
        now = time.monotonic()
        if on and self._typing and now - self._typing_on_at < MIN_TYPING_GAP_S:
            return
        if not on and not self._typing:
            return
        self._typing = on
        if on:
            self._typing_on_at = now
        await self.signals.publish(
            Signal(conversation_id, "typing", "customer", {"on": on, "name": None})
        )

    async def mark(
        self, kind: str, frame: dict[str, Any], owned: set[str], delivered_up_to: int
    ) -> None:
        """A `received` or `read` frame: only for a conversation delivered on this socket, and
        only up to the last id delivered (a page cannot mark what it was never sent)."""
        cid, up_to = frame.get("conversation_id"), frame.get("up_to")
        if not isinstance(cid, str) or len(cid) > MAX_CONVERSATION_ID or cid not in owned:
            raise FrameError("'conversation_id' must be a conversation shown on this page")
        if isinstance(up_to, bool) or not isinstance(up_to, int) or up_to < 1:
            raise FrameError("'up_to' must be a message id")
        up_to = min(up_to, delivered_up_to)
        if kind == "read":
            after = await self.store.read_marks.mark(cid, "customer", read_up_to=up_to)
        else:
            after = await self.store.read_marks.mark(cid, "customer", received_up_to=up_to)
        if not after.changed:
            return
        await self.signals.publish(
            Signal(
                cid,
                "receipt",
                "customer",
                {"received_up_to": after.received_up_to, "read_up_to": after.read_up_to},
            )
        )


def _receipt(conversation_id: str, data: dict[str, Any]) -> dict[str, Any]:
    def as_id(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return {
        "type": "receipt",
        "conversation_id": conversation_id,
        "read_up_to": as_id(data.get("read_up_to")),
        "received_up_to": as_id(data.get("received_up_to")),
    }
