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

Which conversations have a customer's client open right now (the web widget) is kept by an
`OnlineClients` registry: what a proactive message asks before it picks the live widget over a
pushed channel. Each entry expires unless refreshed, so a client that vanished without a word
(kill -9, a lost network) falls out by itself. `LocalOnlineClients` serves one process; instances
share a Redis one (bot/coordination.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)
ONLINE_TTL_S = 60.0  # how long a client counts as online after it last said so


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


class OnlineClients(Protocol):
    """The customer-side clients (widget sockets) open right now, per conversation, wherever
    they are connected: whether a conversation can be reached live, or only by a push.

    An entry lasts `ttl_s` from the client's last `here`; a client refreshes every `refresh_s`
    while it is open and says `gone` when it closes. Implementations never raise into the
    caller: when they cannot tell, `online` answers False, so the caller falls back to a
    channel that does not need the client open."""

    @property
    def refresh_s(self) -> float:
        """How often an open client says `here` again to stay online."""
        ...

    async def here(self, conversation_id: str, client: str) -> None:
        """`client` (unique per connection) has `conversation_id` open: online for `ttl_s`
        from now."""
        ...

    async def gone(self, conversation_id: str, client: str) -> None:
        """`client` closed or left `conversation_id`; other clients of it stay online."""
        ...

    async def online(self, conversation_id: str) -> bool:
        """Whether any client has `conversation_id` open now."""
        ...


class LocalOnlineClients:
    """The online clients of one process (the default without Redis): a deadline per client,
    on the monotonic clock, so a simulated clock (bot.clock) never expires a live widget."""

    def __init__(
        self, ttl_s: float = ONLINE_TTL_S, *, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._now = now
        self._until: dict[str, dict[str, float]] = {}
        self._swept = now()

    @property
    def refresh_s(self) -> float:
        return self.ttl_s / 3

    async def here(self, conversation_id: str, client: str) -> None:
        now = self._now()
        if now - self._swept >= self.ttl_s:  # clients that never said gone, at most once a TTL
            self._swept = now
            for cid in list(self._until):
                self._prune(cid, now)
        self._until.setdefault(conversation_id, {})[client] = now + self.ttl_s

    async def gone(self, conversation_id: str, client: str) -> None:
        clients = self._until.get(conversation_id)
        if clients is not None:
            clients.pop(client, None)
            if not clients:
                del self._until[conversation_id]

    async def online(self, conversation_id: str) -> bool:
        return self._prune(conversation_id, self._now()) > 0

    def _prune(self, conversation_id: str, now: float) -> int:
        """Drop the conversation's expired clients; how many are left."""
        clients = self._until.get(conversation_id)
        if clients is None:
            return 0
        for client in [c for c, until in clients.items() if until <= now]:
            del clients[client]
        if not clients:
            del self._until[conversation_id]
        return len(clients)

    def __len__(self) -> int:
        """Conversations with an entry (expired ones included until they are swept)."""
        return len(self._until)
