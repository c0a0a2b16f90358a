"""Conversations: one customer's exchange on one channel, from the first message until it is
resolved or closed, with the dialogue's state (failed turns, negative streak, slots).

A customer has at most one open conversation per channel; once it is resolved or closed, the
next message opens a new one. Messages live in their own repository (messages.py), because a
turn numbers them against the conversation's `last_seq` in the same statement.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.store import models as m
from bot.store.engine import Database
from bot.store.errors import NotFoundError
from bot.store.records import CONVERSATION_STATUSES, ConversationRecord
from bot.store.tables import CONV, OPEN, conversation_record, only

UPDATABLE = {"status", "language", "failed_turns", "negative_streak", "state", "closed_at"}


class Conversations(Protocol):
    """Customers' conversations, found or opened per channel, and their state."""

    async def active(self, customer_id: str, channel: str) -> ConversationRecord:
        """The customer's open conversation on this channel, or a new one."""
        ...

    async def latest(self, customer_id: str, channel: str) -> ConversationRecord | None:
        """The customer's newest conversation on this channel, open or not."""
        ...

    async def get(self, conversation_id: str) -> ConversationRecord:
        """The conversation; NotFoundError if there is none."""
        ...

    async def update(self, conversation_id: str, **fields: Any) -> None:
        """Set status, language, failed_turns, negative_streak, state or closed_at; InputError
        for any other field or an unknown status, NotFoundError for an unknown conversation."""
        ...

    async def of_customer(self, customer_id: str) -> list[ConversationRecord]:
        """Every conversation of a customer, on every channel, oldest first."""
        ...


class SqlConversations:
    """`Conversations` over the store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def active(self, customer_id: str, channel: str) -> ConversationRecord:
        def work(s: Session) -> ConversationRecord:
            row = s.scalar(
                select(m.Conversation)
                .where(
                    m.Conversation.customer_id == customer_id,
                    m.Conversation.channel == channel,
                    m.Conversation.status.in_(OPEN),
                )
                .order_by(m.Conversation.created_at.desc())
                .limit(1)
            )
            if row is None:
                row = m.Conversation(customer_id=customer_id, channel=channel, state={})
                s.add(row)
                s.commit()
            return conversation_record(row)

        return await self.db.run(work)

    async def latest(self, customer_id: str, channel: str) -> ConversationRecord | None:
        def work(s: Session) -> ConversationRecord | None:
            row = latest_row(s, customer_id, channel)
            return conversation_record(row) if row is not None else None

        return await self.db.run(work)

    async def get(self, conversation_id: str) -> ConversationRecord:
        def work(s: Session) -> ConversationRecord:
            row = s.get(m.Conversation, conversation_id)
            if row is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            return conversation_record(row)

        return await self.db.run(work)

    async def update(self, conversation_id: str, **fields: Any) -> None:
        only("conversation", fields, UPDATABLE)
        if "status" in fields and fields["status"] not in CONVERSATION_STATUSES:
            raise InputError(f"status {fields['status']!r}; allowed: {CONVERSATION_STATUSES}")

        def work(s: Session) -> None:
            result = s.execute(
                update(CONV)
                .where(CONV.c.id == conversation_id)
                .values(**fields, updated_at=clock.now())
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no conversation {conversation_id!r}")
            s.commit()

        await self.db.run(work)

    async def of_customer(self, customer_id: str) -> list[ConversationRecord]:
        def work(s: Session) -> list[ConversationRecord]:
            rows = s.scalars(
                select(m.Conversation)
                .where(m.Conversation.customer_id == customer_id)
                .order_by(m.Conversation.created_at)
            )
            return [conversation_record(r) for r in rows]

        return await self.db.run(work)


def latest_row(s: Session, customer_id: str, channel: str) -> m.Conversation | None:
    """The customer's newest conversation on `channel`, inside the caller's transaction."""
    return s.scalar(
        select(m.Conversation)
        .where(m.Conversation.customer_id == customer_id, m.Conversation.channel == channel)
        .order_by(m.Conversation.created_at.desc())
        .limit(1)
    )
