"""Unfinished turns: customer messages that `begin_turn` stored but no `finish_turn` ever
answered, because the process died in between (kill -9, out of memory, a lost machine) or the
turn raised.

Such a message has no parse (SQL NULL, found through a partial index) and sits in a conversation
that is still open. Whoever finishes it holds the customer's turn lock and first counts the try
in the message (`turn_attempts`), before running anything: a message that kills its process
every time is still counted, and is handed to a person after the last try instead of forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.store.engine import Database
from bot.store.sql_store import (
    _OPEN,
    CONV,
    CUST,
    IDENT,
    MSG,
    TurnStart,
    _conversation,
    _customer,
    _message,
    _utc,
)


@dataclass(frozen=True)
class UnfinishedTurn:
    """A customer message whose turn never finished, and whose locks to take to finish it."""

    message_id: int
    conversation_id: str
    channel: str
    senders: tuple[str, ...]  # how the customer is known on the channel: the turn-lock keys
    created_at: datetime


class UnfinishedTurns:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def due(self, *, older_than_s: float, limit: int = 100) -> list[UnfinishedTurn]:
        """Unfinished customer messages of open conversations stored at least `older_than_s`
        ago, oldest first (so each conversation's in the order they were said)."""

        def work(s: Session) -> list[UnfinishedTurn]:
            cutoff = clock.now() - timedelta(seconds=older_than_s)
            rows = s.execute(
                select(
                    MSG.c.id,
                    MSG.c.conversation_id,
                    MSG.c.created_at,
                    CONV.c.channel,
                    CONV.c.customer_id,
                )
                .join(CONV, CONV.c.id == MSG.c.conversation_id)
                .where(
                    MSG.c.sender == "customer",
                    MSG.c.parse.is_(None),
                    MSG.c.created_at < cutoff,
                    CONV.c.status.in_(_OPEN),
                )
                .order_by(MSG.c.created_at, MSG.c.id)
                .limit(limit)
            ).all()
            senders: dict[tuple[str, str], tuple[str, ...]] = {}
            for r in rows:
                key = (r.customer_id, r.channel)
                if key not in senders:
                    senders[key] = tuple(
                        sorted(
                            s.scalars(
                                select(IDENT.c.external_id).where(
                                    IDENT.c.customer_id == r.customer_id,
                                    IDENT.c.channel == r.channel,
                                )
                            )
                        )
                    )
            return [
                UnfinishedTurn(
                    r.id,
                    r.conversation_id,
                    r.channel,
                    senders[(r.customer_id, r.channel)],
                    _utc(r.created_at) or r.created_at,
                )
                for r in rows
            ]

        return await self.db.run(work)

    async def attempt(self, message_id: int) -> tuple[TurnStart, int] | None:
        """Count one more try of the message's turn and return what the turn needs, with the
        tries so far (this one included); None when there is nothing to do any more: the turn
        was finished meanwhile, or its conversation closed. Call it holding the turn lock."""

        def work(s: Session) -> tuple[TurnStart, int] | None:
            row = s.execute(
                update(MSG)
                .where(MSG.c.id == message_id, MSG.c.parse.is_(None))
                .values(turn_attempts=MSG.c.turn_attempts + 1)
                .returning(*MSG.c)
            ).first()
            conv = (
                s.execute(select(CONV).where(CONV.c.id == row.conversation_id)).first()
                if row is not None
                else None
            )
            if row is None or conv is None or conv.status not in _OPEN:
                s.rollback()
                return None
            customer = s.execute(select(CUST).where(CUST.c.id == conv.customer_id)).one()
            s.commit()
            start = TurnStart(_customer(customer), _conversation(conv), _message(row))
            return start, int(row.turn_attempts)

        return await self.db.run(work)
