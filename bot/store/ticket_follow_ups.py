"""Follow-ups after a ticket's resolution ("solved? fast enough? suggestions?"), and the alerts
that tell supervisors about escalated tickets.

A follow-up is scheduled once per ticket when it is resolved, sent when due by whichever
instance claims it first (a conditional update, so it goes out once), and answered once through
its link. The link's token is made when it is sent and kept only as its SHA-256: the table
alone cannot answer for a customer.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import clock
from bot.store import models as m
from bot.store.engine import Database
from bot.store.tables import utc

MAX_SUGGESTIONS_CHARS = 2000


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FollowUpRecord:
    id: int
    ticket_id: int
    ticket_number: str
    due_at: datetime
    expires_at: datetime
    sent_at: datetime | None
    message_id: int | None
    answered_at: datetime | None
    solved: bool | None
    fast_enough: bool | None
    suggestions: str
    skill_group: str | None = None
    assigned_to: str | None = None


@dataclass(frozen=True)
class AlertRecord:
    id: int
    ticket_number: str
    kind: str
    text: str
    created_at: datetime
    read_at: datetime | None


class TicketFollowUps:
    """Scheduling, sending and answering follow-ups."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def schedule(self, ticket_id: int, due_at: datetime) -> bool:
        """A follow-up for the ticket, unless it has one already (a ticket resolved, reopened
        and resolved again is asked once); whether this one was scheduled. Its link is made
        when it is sent (`claim`): until then no token answers it."""

        def work(s: Session) -> bool:
            if s.scalar(select(m.TicketFollowUp.id).where(m.TicketFollowUp.ticket_id == ticket_id)):
                return False
            s.add(
                m.TicketFollowUp(
                    ticket_id=ticket_id,
                    token_hash=token_hash(secrets.token_urlsafe(32)),  # a lock without a key
                    due_at=due_at,
                    expires_at=due_at,
                )
            )
            try:
                s.commit()
            except IntegrityError:  # scheduled by another instance meanwhile
                s.rollback()
                return False
            return True

        return await self.db.run(work)

    async def due(self, now: datetime, limit: int = 50) -> list[FollowUpRecord]:
        """Unsent follow-ups whose time has come."""

        def work(s: Session) -> list[FollowUpRecord]:
            rows = s.execute(
                _joined()
                .where(m.TicketFollowUp.sent_at.is_(None), m.TicketFollowUp.due_at <= now)
                .order_by(m.TicketFollowUp.id)
                .limit(limit)
            )
            return [_record(f, t) for f, t in rows]

        return await self.db.run(work)

    async def claim(self, follow_up_id: int, token: str, expires_at: datetime) -> bool:
        """Mark it sent, with the link's token and its expiry, before it is sent: two
        instances never both send it, and only the token sent answers it."""

        def work(s: Session) -> bool:
            done = s.execute(
                update(m.TicketFollowUp)
                .where(m.TicketFollowUp.id == follow_up_id, m.TicketFollowUp.sent_at.is_(None))
                .values(sent_at=clock.now(), token_hash=token_hash(token), expires_at=expires_at)
            )
            s.commit()
            return bool(done.rowcount)  # type: ignore[attr-defined]

        return await self.db.run(work)

    async def sent_as(self, follow_up_id: int, message_id: int) -> None:
        def work(s: Session) -> None:
            s.execute(
                update(m.TicketFollowUp)
                .where(m.TicketFollowUp.id == follow_up_id)
                .values(message_id=message_id)
            )
            s.commit()

        await self.db.run(work)

    async def by_token(self, token: str) -> FollowUpRecord | None:
        def work(s: Session) -> FollowUpRecord | None:
            row = s.execute(
                _joined().where(m.TicketFollowUp.token_hash == token_hash(token))
            ).first()
            return _record(row[0], row[1]) if row is not None else None

        return await self.db.run(work)

    async def of_ticket(self, ticket_id: int) -> FollowUpRecord | None:
        def work(s: Session) -> FollowUpRecord | None:
            row = s.execute(_joined().where(m.TicketFollowUp.ticket_id == ticket_id)).first()
            return _record(row[0], row[1]) if row is not None else None

        return await self.db.run(work)

    async def answer(
        self, follow_up_id: int, *, solved: bool, fast_enough: bool, suggestions: str
    ) -> bool:
        """Store the customer's answers, once; False if it was answered already."""

        def work(s: Session) -> bool:
            done = s.execute(
                update(m.TicketFollowUp)
                .where(m.TicketFollowUp.id == follow_up_id, m.TicketFollowUp.answered_at.is_(None))
                .values(
                    answered_at=clock.now(),
                    solved=solved,
                    fast_enough=fast_enough,
                    suggestions=suggestions[:MAX_SUGGESTIONS_CHARS],
                )
            )
            s.commit()
            return bool(done.rowcount)  # type: ignore[attr-defined]

        return await self.db.run(work)

    async def sent_between(self, since: datetime, until: datetime) -> list[FollowUpRecord]:
        """Follow-ups sent in [since, until): the report's population."""

        def work(s: Session) -> list[FollowUpRecord]:
            rows = s.execute(
                _joined()
                .where(m.TicketFollowUp.sent_at >= since, m.TicketFollowUp.sent_at < until)
                .order_by(m.TicketFollowUp.id)
            )
            return [_record(f, t) for f, t in rows]

        return await self.db.run(work)


class TicketAlerts:
    """What people must know about tickets, once per person, ticket and kind."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def notify(self, agent_ids: Iterable[str], ticket_id: int, kind: str, text: str) -> int:
        """Alert each agent (skipping those told already); how many were new."""
        ids = list(dict.fromkeys(agent_ids))

        def work(s: Session) -> int:
            told = set(
                s.scalars(
                    select(m.TicketAlert.agent_id).where(
                        m.TicketAlert.ticket_id == ticket_id, m.TicketAlert.kind == kind
                    )
                )
            )
            new = [a for a in ids if a not in told]
            for agent_id in new:
                s.add(m.TicketAlert(agent_id=agent_id, ticket_id=ticket_id, kind=kind, text=text))
            try:
                s.commit()
            except IntegrityError:  # another instance told them meanwhile
                s.rollback()
                return 0
            return len(new)

        return await self.db.run(work)

    async def of_agent(self, agent_id: str, *, unread_only: bool = False) -> list[AlertRecord]:
        """The agent's alerts, newest first (at most 100)."""

        def work(s: Session) -> list[AlertRecord]:
            q = (
                select(m.TicketAlert, m.Ticket.number)
                .join(m.Ticket, m.Ticket.id == m.TicketAlert.ticket_id)
                .where(m.TicketAlert.agent_id == agent_id)
            )
            if unread_only:
                q = q.where(m.TicketAlert.read_at.is_(None))
            rows = s.execute(q.order_by(m.TicketAlert.id.desc()).limit(100))
            return [
                AlertRecord(
                    a.id,
                    number or "",
                    a.kind,
                    a.text,
                    utc(a.created_at) or a.created_at,
                    utc(a.read_at),
                )
                for a, number in rows
            ]

        return await self.db.run(work)

    async def mark_read(self, agent_id: str) -> int:
        """Mark all of the agent's alerts read; how many were unread."""

        def work(s: Session) -> int:
            done = s.execute(
                update(m.TicketAlert)
                .where(m.TicketAlert.agent_id == agent_id, m.TicketAlert.read_at.is_(None))
                .values(read_at=clock.now())
            )
            s.commit()
            return int(done.rowcount)  # type: ignore[attr-defined]

        return await self.db.run(work)


def _joined() -> Select[m.TicketFollowUp, m.Ticket]:
    return select(m.TicketFollowUp, m.Ticket).join(
        m.Ticket, m.Ticket.id == m.TicketFollowUp.ticket_id
    )


def _record(f: m.TicketFollowUp, t: m.Ticket) -> FollowUpRecord:
    return FollowUpRecord(
        f.id,
        f.ticket_id,
        t.number or "",
        utc(f.due_at) or f.due_at,
        utc(f.expires_at) or f.expires_at,
        utc(f.sent_at),
        f.message_id,
        utc(f.answered_at),
        f.solved,
        f.fast_enough,
        f.suggestions or "",
        t.skill_group,
        t.assigned_to,
    )
