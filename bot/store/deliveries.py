"""The delivery ledger of pushed channels (Telegram, WeChat): which outbound message is due,
which went out and how, which failed and why.

Rows are written in the same transaction as their message (`enqueue`, run by messages.py and
turns.py), so a crash between storing a reply and sending it leaves a pending row, never a silent
gap. A sender claims a row before sending (a conditional update that also sets a lease), so two
workers, or a worker and a webhook's passive reply, never send the same message twice. Messages
of one conversation go out strictly in order: only the oldest pending row of a conversation is
ever due.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from bot import clock
from bot.store.engine import Database
from bot.store.records import MessageRecord
from bot.store.tables import CONV, DLP, DLV, IDENT, MSG, PUSHED_CHANNELS, message_record, utc


@dataclass(frozen=True)
class DueDelivery:
    message: MessageRecord
    channel: str
    customer_id: str
    recipient: str | None  # how the customer is known on the channel (chat id, openid)
    attempts: int  # including this one
    # Parts of a long message that already went out (1-based), by an earlier partial attempt.
    parts_sent: frozenset[int] = frozenset()


@dataclass(frozen=True)
class DeliveryState:
    status: str  # pending | sent | failed
    attempts: int
    via: str | None
    error: str | None
    at: datetime


class Deliveries:
    """The delivery ledger of pushed channels, for the outbox workers and the agent's view."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim_due(
        self, channel: str, *, limit: int = 50, lease_s: float = 60.0
    ) -> list[DueDelivery]:
        """The head of each conversation's queue that is due now, claimed for `lease_s`: if the
        claimer dies, the row is due again when the lease ends."""

        def work(s: Session) -> list[DueDelivery]:
            now = clock.now()
            earlier = aliased(DLV)
            # How the customer is known on the channel: their newest identity there.
            recipient = (
                select(IDENT.c.external_id)
                .where(IDENT.c.customer_id == CONV.c.customer_id, IDENT.c.channel == channel)
                .order_by(IDENT.c.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            rows = s.execute(
                select(
                    DLV.c.message_id,
                    DLV.c.attempts,
                    CONV.c.customer_id,
                    recipient.label("recipient"),
                    MSG,
                )
                .join(MSG, MSG.c.id == DLV.c.message_id)
                .join(CONV, CONV.c.id == DLV.c.conversation_id)
                .where(
                    DLV.c.channel == channel,
                    DLV.c.status == "pending",
                    DLV.c.due_at <= now,
                    ~exists().where(
                        earlier.c.conversation_id == DLV.c.conversation_id,
                        earlier.c.status == "pending",
                        earlier.c.message_id < DLV.c.message_id,
                    ),
                )
                .order_by(DLV.c.message_id)
                .limit(limit)
            ).all()
            out = []
            for row in rows:
                claimed = s.execute(
                    update(DLV)
                    .where(
                        DLV.c.message_id == row.message_id,
                        DLV.c.status == "pending",
                        DLV.c.attempts == row.attempts,
                    )
                    .values(attempts=row.attempts + 1, due_at=now + timedelta(seconds=lease_s))
                ).rowcount  # type: ignore[attr-defined]
                if not claimed:
                    continue  # another worker, or a passive reply, took it
                parts = s.execute(
                    select(DLP.c.part).where(DLP.c.message_id == row.message_id)
                ).scalars()
                out.append(
                    DueDelivery(
                        message_record(row),
                        channel,
                        row.customer_id,
                        row.recipient,
                        row.attempts + 1,
                        frozenset(parts),
                    )
                )
            s.commit()
            return out

        return await self.db.run(work)

    async def sent(self, message_id: int, *, via: str = "api", ref: str | None = None) -> None:
        await self._set(message_id, status="sent", via=via, external_ref=ref, error=None)

    async def part_sent(
        self, message_id: int, part: int, parts: int, *, ref: str | None = None
    ) -> None:
        """Part `part` of `parts` (1-based) of a long message reached the channel: a retry
        skips it. The last part is followed by `sent`, as for a message in one piece."""

        def work(s: Session) -> None:
            s.execute(
                insert(DLP).values(
                    message_id=message_id,
                    part=part,
                    parts=parts,
                    external_ref=ref,
                    sent_at=clock.now(),
                )
            )
            s.commit()

        await self.db.run(work)

    async def parts(self, message_id: int) -> list[tuple[int, int, str | None]]:
        """The recorded parts of a message: (part, of parts, the channel's id), in order."""

        def work(s: Session) -> list[tuple[int, int, str | None]]:
            rows = s.execute(
                select(DLP.c.part, DLP.c.parts, DLP.c.external_ref)
                .where(DLP.c.message_id == message_id)
                .order_by(DLP.c.part)
            ).all()
            return [(r.part, r.parts, r.external_ref) for r in rows]

        return await self.db.run(work)

    async def retry(self, message_id: int, *, after_s: float, error: str) -> None:
        """Due again after `after_s` (backoff, or the channel's own `retry_after`)."""
        at = clock.now() + timedelta(seconds=after_s)
        await self._set(message_id, status="pending", due_at=at, error=error)

    async def failed(self, message_id: int, error: str) -> None:
        await self._set(message_id, status="failed", error=error)

    async def _set(self, message_id: int, **values: Any) -> None:
        values.setdefault("due_at", clock.now())

        def work(s: Session) -> None:
            s.execute(update(DLV).where(DLV.c.message_id == message_id).values(**values))
            s.commit()

        await self.db.run(work)

    async def cancel_pending(
        self, customer_id: str, channel: str, reason: str
    ) -> list[tuple[str, int]]:
        """Fail every pending delivery to the customer on `channel` with `reason` (they left
        the channel: WeChat's unsubscribe), so none goes out later; (conversation, message) of
        each, for the agents' notice."""

        def work(s: Session) -> list[tuple[str, int]]:
            mine = select(CONV.c.id).where(CONV.c.customer_id == customer_id)
            rows = s.execute(
                select(DLV.c.conversation_id, DLV.c.message_id).where(
                    DLV.c.channel == channel,
                    DLV.c.status == "pending",
                    DLV.c.conversation_id.in_(mine),
                )
            ).all()
            if rows:
                s.execute(
                    update(DLV)
                    .where(
                        DLV.c.message_id.in_([r.message_id for r in rows]),
                        DLV.c.status == "pending",
                    )
                    .values(status="failed", error=reason, due_at=clock.now())
                )
            s.commit()
            return [(r.conversation_id, r.message_id) for r in rows]

        return await self.db.run(work)

    async def claim_passive(
        self,
        conversation_id: str,
        seq: int,
        *,
        fits: Callable[[MessageRecord], bool] | None = None,
    ) -> MessageRecord | None:
        """Take one reply for a webhook's own answer, if no sender has touched it yet and it
        `fits` that answer (a long text that must go in parts is left to the sender)."""

        def work(s: Session) -> MessageRecord | None:
            row = s.execute(
                select(MSG).where(MSG.c.conversation_id == conversation_id, MSG.c.seq == seq)
            ).first()
            if row is None or (fits is not None and not fits(message_record(row))):
                return None
            claimed = s.execute(
                update(DLV)
                .where(
                    DLV.c.message_id == row.id,
                    DLV.c.status == "pending",
                    DLV.c.attempts == 0,
                )
                .values(status="sent", via="passive", due_at=clock.now(), attempts=1)
            ).rowcount  # type: ignore[attr-defined]
            s.commit()
            return message_record(row) if claimed else None

        return await self.db.run(work)

    async def unclaim_passive(self, message_id: int, *, hold_s: float, error: str) -> bool:
        """A passive reply that never reached the platform (the webhook's connection dropped):
        pending and untouched again, so a retry of the webhook can claim it for its own answer,
        or, after `hold_s`, a sender sends it. False if it was not a claimed passive reply."""

        def work(s: Session) -> bool:
            undone = s.execute(
                update(DLV)
                .where(
                    DLV.c.message_id == message_id,
                    DLV.c.status == "sent",
                    DLV.c.via == "passive",
                )
                .values(
                    status="pending",
                    via=None,
                    attempts=0,
                    error=error,
                    due_at=clock.now() + timedelta(seconds=hold_s),
                )
            ).rowcount  # type: ignore[attr-defined]
            s.commit()
            return bool(undone)

        return await self.db.run(work)

    async def release(self, conversation_id: str) -> None:
        """End the hold on a conversation's untouched pending rows: they are due now."""

        def work(s: Session) -> None:
            s.execute(
                update(DLV)
                .where(
                    DLV.c.conversation_id == conversation_id,
                    DLV.c.status == "pending",
                    DLV.c.attempts == 0,
                )
                .values(due_at=clock.now())
            )
            s.commit()

        await self.db.run(work)

    async def states(self, conversation_id: str) -> dict[int, DeliveryState]:
        """Per message of a conversation, how its delivery stands (for the agent's view)."""

        def work(s: Session) -> dict[int, DeliveryState]:
            rows = s.execute(select(DLV).where(DLV.c.conversation_id == conversation_id)).all()
            return {
                r.message_id: DeliveryState(
                    r.status, r.attempts, r.via, r.error, utc(r.due_at) or r.due_at
                )
                for r in rows
            }

        return await self.db.run(work)

    async def window(
        self, customer_id: str, channel: str, *, queued: bool = False
    ) -> tuple[datetime | None, int]:
        """When the customer last wrote on `channel`, and how many messages were sent to them
        through the channel's send API since then (passive replies do not count). `queued`
        also counts those still waiting to go out, which will use the same window."""

        def work(s: Session) -> tuple[datetime | None, int]:
            last = s.execute(
                select(func.max(MSG.c.created_at))
                .join(CONV, CONV.c.id == MSG.c.conversation_id)
                .where(
                    CONV.c.customer_id == customer_id,
                    CONV.c.channel == channel,
                    MSG.c.sender == "customer",
                )
            ).scalar()
            if last is None:
                return None, 0
            sent = (DLV.c.via == "api") & (DLV.c.status == "sent") & (DLV.c.due_at >= last)
            counted = (sent | (DLV.c.status == "pending")) if queued else sent
            mine = and_(CONV.c.customer_id == customer_id, DLV.c.channel == channel)
            # A message sent in parts used one message of the window per part: count its
            # parts (sent since `last`) instead of the message.
            has_parts = exists().where(DLP.c.message_id == DLV.c.message_id)
            used = s.execute(
                select(func.count())
                .select_from(DLV)
                .join(CONV, CONV.c.id == DLV.c.conversation_id)
                .where(mine, counted, ~has_parts)
            ).scalar_one()
            parts = s.execute(
                select(func.count())
                .select_from(DLP)
                .join(DLV, DLV.c.message_id == DLP.c.message_id)
                .join(CONV, CONV.c.id == DLV.c.conversation_id)
                .where(mine, DLP.c.sent_at >= last)
            ).scalar_one()
            return utc(last), int(used) + int(parts)

        return await self.db.run(work)


def enqueue(
    s: Session,
    conversation_id: str,
    message_ids: list[int],
    *,
    channel: str,
    hold_s: float = 0.0,
) -> None:
    """Delivery rows for outbound messages on a pushed channel, in the caller's transaction."""
    if channel not in PUSHED_CHANNELS or not message_ids:
        return
    at = clock.now()
    due = at + timedelta(seconds=hold_s)
    s.execute(
        insert(DLV),
        [
            {
                "message_id": i,
                "conversation_id": conversation_id,
                "channel": channel,
                "status": "pending",
                "due_at": due,
                "attempts": 0,
                "created_at": at,
            }
            for i in message_ids
        ],
    )
