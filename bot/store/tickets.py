"""Tickets: work that outlives a conversation (a repair, a refund to chase), numbered for people
(T-1001, T-1002, ...) and keeping every change of status as an event, so the customer and the
agent can read its history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.privacy import mask_text
from bot.store import models as m
from bot.store.engine import Database
from bot.store.errors import NotFoundError
from bot.store.records import TICKET_STATUSES, TicketEventRecord, TicketRecord
from bot.store.settings import StoreSettings
from bot.store.tables import utc

TICKET_BASE = 1000  # ticket numbers start at T-1001


class Tickets(Protocol):
    """Opening tickets, moving them through their statuses, and reading them back."""

    async def create(
        self,
        customer_id: str,
        subject: str,
        *,
        conversation_id: str | None = None,
        skill_group: str | None = None,
        due_at: datetime | None = None,
        actor: str = "bot",
    ) -> TicketRecord:
        """Open a ticket, numbered after the last one, with its first event ("new")."""
        ...

    async def get(self, number: str) -> TicketRecord:
        """The ticket by its number, in any case ("t-1001"); NotFoundError if there is none."""
        ...

    async def set_status(
        self, number: str, status: str, *, note: str = "", actor: str | None = None
    ) -> TicketRecord:
        """Move the ticket to `status`, recording who did it and why; InputError for a status
        that does not exist."""
        ...

    async def of_customer(self, customer_id: str) -> list[TicketRecord]:
        """A customer's tickets, oldest first."""
        ...


class SqlTickets:
    """`Tickets` over the store's database."""

    def __init__(self, db: Database, settings: StoreSettings) -> None:
        self.db = db
        self.settings = settings

    async def create(
        self,
        customer_id: str,
        subject: str,
        *,
        conversation_id: str | None = None,
        skill_group: str | None = None,
        due_at: datetime | None = None,
        actor: str = "bot",
    ) -> TicketRecord:
        if self.settings.mask_transcripts:  # the bot's subject is the customer's message
            subject = mask_text(subject)

        def work(s: Session) -> TicketRecord:
            row = m.Ticket(
                customer_id=customer_id,
                conversation_id=conversation_id,
                subject=subject[:500],
                skill_group=skill_group,
                due_at=due_at,
            )
            s.add(row)
            s.flush()
            row.number = f"T-{TICKET_BASE + row.id}"
            s.add(m.TicketEvent(ticket_id=row.id, status="new", note=subject[:500], actor=actor))
            s.commit()
            return _ticket(s, row)

        return await self.db.run(work)

    async def get(self, number: str) -> TicketRecord:
        def work(s: Session) -> TicketRecord:
            row = _ticket_row(s, number)
            return _ticket(s, row)

        return await self.db.run(work)

    async def set_status(
        self, number: str, status: str, *, note: str = "", actor: str | None = None
    ) -> TicketRecord:
        if status not in TICKET_STATUSES:
            raise InputError(f"ticket status {status!r}; allowed: {', '.join(TICKET_STATUSES)}")

        def work(s: Session) -> TicketRecord:
            row = _ticket_row(s, number)
            row.status = status
            row.updated_at = clock.now()
            s.add(m.TicketEvent(ticket_id=row.id, status=status, note=note, actor=actor))
            s.commit()
            return _ticket(s, row)

        return await self.db.run(work)

    async def of_customer(self, customer_id: str) -> list[TicketRecord]:
        def work(s: Session) -> list[TicketRecord]:
            rows = s.scalars(
                select(m.Ticket).where(m.Ticket.customer_id == customer_id).order_by(m.Ticket.id)
            )
            return [_ticket(s, r) for r in rows]

        return await self.db.run(work)


def _ticket_row(s: Session, number: str) -> m.Ticket:
    row = s.scalar(select(m.Ticket).where(func.upper(m.Ticket.number) == number.strip().upper()))
    if row is None:
        raise NotFoundError(f"no ticket {number!r}")
    return row


def _ticket(s: Session, row: m.Ticket) -> TicketRecord:
    events = s.scalars(
        select(m.TicketEvent).where(m.TicketEvent.ticket_id == row.id).order_by(m.TicketEvent.id)
    )
    return TicketRecord(
        row.id,
        row.number or "",
        row.customer_id,
        row.conversation_id,
        row.subject,
        row.status,
        row.skill_group,
        utc(row.due_at),
        utc(row.created_at) or row.created_at,
        utc(row.updated_at) or row.updated_at,
        tuple(TicketEventRecord(e.status, e.note, e.actor, utc(e.at) or e.at) for e in events),
    )
