"""Sending one proactive message: on the channel where the customer can be reached now, as an
ordinary bot message in their conversation there, so the channel's own delivery takes it from
that point (the same path as a ticket's progress update, handoff/tickets/desk.py).

Where, in order of preference (`Reach.route`, built by bot/server/proactive_reach.py):

    1. web       the customer's widget is open (a socket watches their web conversation): the
                 socket's pump shows it at once
    2. telegram  the customer is known on Telegram and the channel is enabled: the delivery
                 ledger (bot/store/deliveries.py) and the outbox push it
    3. wechat    inside WeChat's 48-hour customer-service window with a message left
    4. wechat    outside it, as the `templates.proactive` template message, when configured
    5. none      suppressed "unreachable"

The message's payload is `{"proactive": {"rule", "ledger_id"}, "buttons": [...]}`; the customer's
reply is a normal turn in the same conversation, with the bot in charge.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.store.records import ConversationRecord
from bot.store.sql_store import SqlStore

CHANNEL_ORDER = ("web", "telegram", "wechat")


@dataclass(frozen=True)
class Route:
    """Where a message goes: the channel, how (live | push | window | template), and the
    conversation to store it in when the channel names one (the widget's watched one)."""

    channel: str
    how: str
    conversation_id: str | None = None


class Reach(Protocol):
    """Where a customer can be reached now (bot/server/proactive_reach.py; tests pass a fake)."""

    async def route(
        self, customer_id: str, now: datetime, channels: Collection[str] = ()
    ) -> Route | None:
        """The first channel of CHANNEL_ORDER (of `channels` only, when given: a rule's `via`)
        that reaches the customer; None: none does."""
        ...


@dataclass(frozen=True)
class Sent:
    channel: str
    how: str
    conversation_id: str
    message_id: int


class NoReach:
    """A Reach for a process with no channels (the CLI, a simulation without them): every
    customer is reached on their newest conversation's channel, if any."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    async def route(
        self, customer_id: str, now: datetime, channels: Collection[str] = ()
    ) -> Route | None:
        convs = [
            c
            for c in await self.store.conversations.of_customer(customer_id)
            if not channels or c.channel in channels
        ]
        if not convs:
            return None
        newest = max(convs, key=lambda c: c.created_at)
        return Route(newest.channel, "stored", newest.id)


async def send(
    store: SqlStore,
    reach: Reach,
    *,
    customer_id: str,
    rule: str,
    ledger_id: int,
    text: str,
    buttons: Sequence[dict[str, Any]],
    now: datetime,
    via: Collection[str] = (),
) -> Sent | None:
    """Store the message where the customer is reached, on one of `via` when given (None:
    nowhere, "unreachable")."""
    route = await reach.route(customer_id, now, via)
    if route is None:
        return None
    conv = await _conversation(store, customer_id, route)
    message = await store.messages.append(
        conv.id,
        "bot",
        text,
        payload={
            "proactive": {"rule": rule, "ledger_id": ledger_id, "how": route.how},
            "buttons": list(buttons),
        },
        # A retry of the same ledger row (the claimer died between storing the message and
        # marking the row sent) finds this message instead of storing a second one.
        external_id=f"proactive-{ledger_id}",
    )
    return Sent(route.channel, route.how, conv.id, message.id)


async def _conversation(store: SqlStore, customer_id: str, route: Route) -> ConversationRecord:
    """The widget's watched conversation when the route names it (so its socket wakes up);
    otherwise the customer's open conversation on the channel, opened if there is none, so
    their reply continues it."""
    if route.conversation_id is not None:
        return await store.conversations.get(route.conversation_id)
    return await store.conversations.active(customer_id, route.channel)
