"""What became of the proactive messages sent (the rows of bot/store/proactive_ledger.py).

A sent row collects `delivered_at`, `replied_at` and `converted_at`, which the dashboard counts
(`store.proactive.stats`). The scheduler finds the sent rows still waiting for delivery or a
reply a page at a time (`awaiting`, on partial indexes of exactly those rows), asks the database
what became of them (`deliveries_confirmed`, `first_replies`) and records it (`mark_outcomes`):
nothing of it lives in a process.

Delivered, replied and converted are conditional updates (set only while empty): the first mark
stands, so two schedulers following up the same rows count each outcome once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    func,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.store import models as m
from bot.store.engine import Database
from bot.store.proactive_ledger import PRO, ProactiveRecord, ledger_record
from bot.store.tables import CONV, DLV, MSG, utc

RMK = cast(Table, m.ReadMark.__table__)

# The outcomes the scheduler follows up from the database, and their columns.
FOLLOWED = {"delivered": "delivered_at", "replied": "replied_at"}


def awaiting_query(
    dialect: str,
    outcome: str,
    since: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
) -> Select[Any]:
    """`ProactiveOutcomes.awaiting`'s query, written so both databases take the outcome's partial
    index (ix_proactive_messages_undelivered / _unreplied): the status as a literal, which the
    index's predicate must match (a bound parameter does not, in a generic plan); on SQLite,
    wrapped in `likely()`, or without ANALYZE statistics it prefers the due index's equality
    on status and sorts every sent row."""
    sent: ColumnElement[bool] = PRO.c.status == literal_column("'sent'")
    if dialect == "sqlite":
        sent = func.likely(sent)
    query = select(PRO).where(sent, PRO.c[_column(outcome)].is_(None), PRO.c.sent_at >= since)
    if after is not None:
        query = query.where(tuple_(PRO.c.sent_at, PRO.c.id) > tuple_(*after))
    return query.order_by(PRO.c.sent_at, PRO.c.id).limit(limit)


def _column(outcome: str) -> str:
    if outcome not in FOLLOWED:
        raise InputError(f"unknown followed outcome {outcome!r}; one of {', '.join(FOLLOWED)}")
    return FOLLOWED[outcome]


class ProactiveOutcomes:
    """`store.proactive_outcomes`: what became of the sent proactive messages."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- marking sent rows ---------------------------------------------------------------------
    async def mark_delivered(self, ledger_id: int, at: datetime | None = None) -> bool:
        return await self._after_sent(ledger_id, "delivered_at", at)

    async def mark_replied(self, ledger_id: int, at: datetime | None = None) -> bool:
        return await self._after_sent(ledger_id, "replied_at", at)

    async def mark_converted(self, ledger_id: int, at: datetime | None = None) -> bool:
        return await self._after_sent(ledger_id, "converted_at", at)

    async def _after_sent(self, ledger_id: int, column: str, at: datetime | None) -> bool:
        """Set the outcome once, on a sent row; False if it was set already or was not sent."""
        col = PRO.c[column]

        def work(s: Session) -> bool:
            done = s.execute(
                update(PRO)
                .where(PRO.c.id == ledger_id, PRO.c.status == "sent", col.is_(None))
                .values({column: at or clock.now()})
            ).rowcount  # type: ignore[attr-defined]
            s.commit()
            return bool(done)

        return await self.db.run(work)

    async def awaiting_conversion(
        self, customer_id: str, rules: Iterable[str], before: datetime
    ) -> list[ProactiveRecord]:
        """Sent rows of these rules to the customer, sent before `before` and not converted
        yet: an `order_paid` at `before` converts them."""
        wanted = list(rules)
        if not wanted:
            return []

        def work(s: Session) -> list[ProactiveRecord]:
            rows = s.execute(
                select(PRO)
                .where(
                    PRO.c.customer_id == customer_id,
                    PRO.c.rule.in_(wanted),
                    PRO.c.status == "sent",
                    PRO.c.sent_at <= before,
                    PRO.c.converted_at.is_(None),
                )
                .order_by(PRO.c.id)
            )
            return [ledger_record(r) for r in rows]

        return await self.db.run(work)

    # -- following up sent rows -----------------------------------------------------------------
    async def awaiting(
        self,
        outcome: str,
        since: datetime,
        *,
        after: tuple[datetime, int] | None = None,
        limit: int = 500,
    ) -> list[ProactiveRecord]:
        """Sent rows, sent at or after `since`, whose `outcome` ("delivered" or "replied") is
        not recorded yet, oldest first: a page of at most `limit`, after the (sent_at, id) key
        `after` (the last row of the page before). Served by that outcome's partial index, so
        the rows settled long ago cost nothing."""
        _column(outcome)

        def work(s: Session) -> list[ProactiveRecord]:
            query = awaiting_query(s.get_bind().dialect.name, outcome, since, after, limit)
            return [ledger_record(r) for r in s.execute(query)]

        return await self.db.run(work)

    async def deliveries_confirmed(self, rows: Sequence[ProactiveRecord]) -> dict[int, datetime]:
        """When each of these sent rows was confirmed delivered, for the ones that were (by
        ledger id), in two queries: a pushed channel's message when the delivery ledger marked
        it `sent`; a widget message when the customer's received (or read) mark covers it,
        dated when that mark last moved (no later than now, no earlier than the send)."""
        pushed = {r.message_id: r for r in rows if r.channel != "web" and r.message_id}
        web = [r for r in rows if r.channel == "web" and r.message_id and r.conversation_id]

        def work(s: Session) -> dict[int, datetime]:
            out: dict[int, datetime] = {}
            if pushed:
                for message_id, at in s.execute(
                    select(DLV.c.message_id, DLV.c.due_at).where(
                        DLV.c.message_id.in_(list(pushed)), DLV.c.status == "sent"
                    )
                ):
                    out[pushed[message_id].id] = utc(at) or at
            if web:
                marks = {
                    row.conversation_id: row
                    for row in s.execute(
                        select(RMK).where(
                            RMK.c.conversation_id.in_(sorted({r.conversation_id for r in web})),
                            RMK.c.reader == "customer",
                        )
                    )
                }
                for r in web:
                    mark = marks.get(r.conversation_id)
                    covered = max(mark.received_up_to or 0, mark.read_up_to or 0) if mark else 0
                    if mark is not None and r.message_id and covered >= r.message_id:
                        moved = utc(mark.updated_at) or mark.updated_at
                        out[r.id] = max(moved, r.sent_at) if r.sent_at else moved
            return out

        return await self.db.run(work)

    async def first_replies(
        self, rows: Sequence[ProactiveRecord], within: timedelta
    ) -> dict[int, datetime]:
        """When the customer answered each of these sent rows, for the ones they did (by ledger
        id): their first message (sender "customer", in any of their conversations, on any
        channel) after the send, if it came within `within` of it. One query."""
        sent = {r.id: r.sent_at for r in rows if r.sent_at is not None}
        if not sent:
            return {}

        def work(s: Session) -> dict[int, datetime]:
            # Every message sets its conversation's updated_at, so a conversation not updated
            # since the send holds no message after it: only the customer's recent ones are read.
            joined = PRO.join(
                CONV,
                and_(CONV.c.customer_id == PRO.c.customer_id, CONV.c.updated_at >= PRO.c.sent_at),
            ).join(
                MSG,
                and_(
                    MSG.c.conversation_id == CONV.c.id,
                    MSG.c.sender == "customer",
                    MSG.c.created_at > PRO.c.sent_at,
                ),
            )
            found = s.execute(
                select(PRO.c.id, func.min(MSG.c.created_at))
                .select_from(joined)
                .where(PRO.c.id.in_(list(sent)))
                .group_by(PRO.c.id)
            )
            out: dict[int, datetime] = {}
            for ledger_id, first in found:
                # The first message after the send decides: later than the window, none
                # came within it.
                at = utc(first) or first
                if at <= sent[ledger_id] + within:
                    out[ledger_id] = at
            return out

        return await self.db.run(work)

    async def mark_outcomes(self, outcome: str, times: Mapping[int, datetime]) -> int:
        """Record `outcome` ("delivered" or "replied") at these times (by ledger id), in one
        transaction, each only on a sent row that has none yet: the first mark stands (another
        scheduler's, an earlier round's). How many were recorded now."""
        column = _column(outcome)
        if not times:
            return 0
        col = PRO.c[column]

        def work(s: Session) -> int:
            done = 0
            for ledger_id, at in sorted(times.items()):
                done += s.execute(
                    update(PRO)
                    .where(PRO.c.id == ledger_id, PRO.c.status == "sent", col.is_(None))
                    .values({column: at})
                ).rowcount  # type: ignore[attr-defined]
            s.commit()
            return done

        return await self.db.run(work)


__all__ = ["FOLLOWED", "ProactiveOutcomes"]
