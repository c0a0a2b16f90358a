"""Who is told when a message is stored.

The store is the source of truth: every message to or from a customer is committed there with its
conversation's next sequence number. After the commit the store publishes a `MessageEvent` on the
bus, and whatever delivers messages (a web-chat socket, a long poll, a messaging-app sender)
reads the stored messages after the last number it delivered. An event is only a nudge: one that
goes missing delays delivery until the next, it never loses a message.

`LocalMessageBus` serves one process; instances that share a database share a Redis bus instead.

Signals (typing, delivered/read receipts) ride a bus of their own with the same shape: they are
ephemeral and best-effort, never stored through this bus (read marks are kept by
`bot.store.read_marks`; a receipt signal only says they moved), so a lost one costs a
moment's indicator, nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MessageEvent:
    conversation_id: str
    seq: int
    sender: str  # customer | bot | agent | system


Listener = Callable[[MessageEvent], None]

SIGNAL_KINDS = frozenset({"typing", "receipt"})
SIGNAL_SENDERS = frozenset({"customer", "agent"})


@dataclass(frozen=True)
class Signal:
    """Something live about a conversation that is not a message: someone typing, or how far a
    side has received and read. `data` for typing: {"on": bool, "name": str | None}; for a
    receipt: {"received_up_to": int | None, "read_up_to": int | None} (message ids)."""

    conversation_id: str
    kind: str  # typing | receipt
    sender: str  # customer | agent
    data: dict[str, Any]


SignalListener = Callable[[Signal], None]


class SignalBus(Protocol):
    def subscribe(
        self, listener: SignalListener, conversation_id: str | None = None
    ) -> Callable[[], None]:
        """Call `listener` for every signal (of one conversation, or of all); returns the
        function that unsubscribes. Listeners must not block: they note the signal and return."""
        ...

    async def publish(self, signal: Signal) -> None: ...


class _HasConversation(Protocol):
    @property
    def conversation_id(self) -> str: ...


E = TypeVar("E", bound=_HasConversation)


class Fanout(Generic[E]):
    """Listeners of one process, for every conversation or for one: the in-process half of
    both buses."""

    def __init__(self) -> None:
        self._all: list[Callable[[E], None]] = []
        self._by_conversation: dict[str, list[Callable[[E], None]]] = {}

    def subscribe(
        self, listener: Callable[[E], None], conversation_id: str | None = None
    ) -> Callable[[], None]:
        bucket = (
            self._all
            if conversation_id is None
            else self._by_conversation.setdefault(conversation_id, [])
        )
        bucket.append(listener)

        def unsubscribe() -> None:
            if listener in bucket:
                bucket.remove(listener)
            if conversation_id is not None and not bucket:
                self._by_conversation.pop(conversation_id, None)

        return unsubscribe

    async def publish(self, event: E) -> None:
        for listener in (*self._by_conversation.get(event.conversation_id, ()), *self._all):
            try:
                listener(event)
            except Exception:  # one broken listener must not stop the others or the writer
                log.exception("listener failed on %s", event)

    def listeners(self, conversation_id: str | None = None) -> int:
        if conversation_id is None:
            return len(self._all)
        return len(self._by_conversation.get(conversation_id, ()))


class MessageBus(Protocol):
    def subscribe(
        self, listener: Listener, conversation_id: str | None = None
    ) -> Callable[[], None]:
        """Call `listener` for every new message (of one conversation, or of all); returns the
        function that unsubscribes. Listeners must not block: they note the event and return."""
        ...

    async def publish(self, event: MessageEvent) -> None: ...


class LocalMessageBus(Fanout[MessageEvent]):
    """The message bus of one process."""


class LocalSignalBus(Fanout[Signal]):
    """The signal bus of one process (the default without Redis)."""
