"""Tickets: work that outlives a conversation (a repair, a refund to chase), numbered for people
(T-1001, T-1002, ...) and keeping every change as an event, so the customer and the agent can
read its history.

A ticket is worked in the console (handoff/tickets): claimed or assigned, moved through its
statuses, annotated with internal notes and customer-visible updates, escalated from tier 1 to
tier 2. Its two service-level clocks are stamped when it is opened, from config.yml's `tickets`
levels for its skill group: the first response (the bot's own promise when it made one) and the
resolution (longer for a cross-department case). Changes that two people may make at once
(claiming, escalating, a status move from an expected status) are single conditional updates,
so the second one is refused with `TicketConflictError` rather than silently winning.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.config.tickets import TicketsSection
from bot.errors import InputError, RelaydeskError
from bot.privacy import mask_text
from bot.store import models as m
from bot.store.engine import Database
from bot.store.errors import NotFoundError
from bot.store.records import TICKET_STATUSES, TicketEventRecord, TicketRecord
from bot.store.settings import StoreSettings
from bot.store.tables import utc

TICKET_BASE = 1000  # ticket numbers start at T-1001
DONE = ("resolved", "closed")  # statuses whose work is over
OPEN_STATUSES = tuple(s for s in TICKET_STATUSES if s not in DONE)
EVENT_KINDS = ("status", "assigned", "note", "update", "escalated", "details", "follow_up")
MAX_NOTE_CHARS = 4000


class TicketConflictError(RelaydeskError):
    """The change does not fit the ticket's state any more (already claimed, already closed,
    moved by someone else meanwhile)."""


class Tickets(Protocol):
    """Opening tickets, working them, and reading them back."""

    async def create(
        self,
        customer_id: str,
        subject: str,
        *,
        conversation_id: str | None = None,
        skill_group: str | None = None,
        due_at: datetime | None = None,
        actor: str = "bot",
        cross_department: bool = False,
    ) -> TicketRecord:
        """Open a ticket, numbered after the last one, with its first event ("new") and its
        SLA clocks; `due_at`, the reply time promised to the customer, is its first-response
        deadline when given."""
        ...

    async def get(self, number: str) -> TicketRecord:
        """The ticket by its number, in any case ("t-1001"); NotFoundError if there is none."""
        ...

    async def set_status(
        self,
        number: str,
        status: str,
        *,
        note: str = "",
        actor: str | None = None,
        expect: Iterable[str] | None = None,
    ) -> TicketRecord:
        """Move the ticket to `status`, recording who did it and why; InputError for a status
        that does not exist; TicketConflictError when `expect` is given and the ticket is not
        in one of those statuses any more."""
        ...

    async def of_customer(self, customer_id: str) -> list[TicketRecord]:
        """A customer's tickets, oldest first."""
        ...

    async def claim(self, number: str, agent_id: str, *, actor: str) -> TicketRecord:
        """Take an unassigned open ticket; TicketConflictError if someone holds it or it is
        done."""
        ...

    async def assign(self, number: str, agent_id: str | None, *, actor: str) -> TicketRecord:
        """Give an open ticket to `agent_id` (None: back to the queue), whoever held it."""
        ...

    async def add_event(
        self,
        number: str,
        kind: str,
        note: str,
        *,
        actor: str | None,
        message_id: int | None = None,
    ) -> TicketRecord:
        """Record a note, an update sent to the customer, or a follow-up; an update is the
        ticket's first response if it has none yet."""
        ...

    async def set_details(
        self,
        number: str,
        *,
        actor: str,
        skill_group: str | None = None,
        cross_department: bool | None = None,
    ) -> TicketRecord:
        """Move the ticket to another skill group or mark it cross-department; the resolution
        clock is recomputed from its opening time."""
        ...

    async def escalate(self, number: str, *, actor: str, note: str) -> TicketRecord:
        """Tier 1 -> tier 2; TicketConflictError if it is at tier 2 already or done."""
        ...

    async def work(
        self,
        *,
        statuses: Iterable[str] = OPEN_STATUSES,
        groups: Iterable[str] | None = None,
        assigned_to: str | None = None,
        unassigned: bool = False,
        tier: int | None = None,
        limit: int = 200,
        ungrouped: bool = False,
    ) -> list[TicketRecord]:
        """Tickets to work, oldest first, without their history: in these statuses and
        groups (None: any; `ungrouped` adds those without a group), held by `assigned_to`,
        or nobody's (`unassigned`)."""
        ...

    async def opened_or_open(self, since: datetime, until: datetime) -> list[TicketRecord]:
        """Tickets opened in [since, until) or still open, without their history (the SLA
        report)."""
        ...

    async def resolved_before(self, cutoff: datetime, limit: int = 100) -> list[TicketRecord]:
        """Resolved (not closed) tickets resolved before `cutoff`."""
        ...


class SqlTickets:
    """`Tickets` over the store's database; `levels` (config.yml's `tickets`) sets the SLA
    clocks of new tickets."""

    def __init__(
        self, db: Database, settings: StoreSettings, levels: TicketsSection | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.levels = levels or TicketsSection()

    async def create(
        self,
        customer_id: str,
        subject: str,
        *,
        conversation_id: str | None = None,
        skill_group: str | None = None,
        due_at: datetime | None = None,
        actor: str = "bot",
        cross_department: bool = False,
    ) -> TicketRecord:
        if self.settings.mask_transcripts:  # the bot's subject is the customer's message
            subject = mask_text(subject)
        opened = clock.now()
        levels = self.levels
        if due_at is not None:  # SQLite keeps no offset: every stored time is UTC
            due_at = due_at.astimezone(UTC) if due_at.tzinfo else due_at.replace(tzinfo=UTC)

        def work(s: Session) -> TicketRecord:
            row = m.Ticket(
                customer_id=customer_id,
                conversation_id=conversation_id,
                subject=subject[:500],
                skill_group=skill_group,
                due_at=due_at,
                cross_department=cross_department,
                created_at=opened,
                updated_at=opened,
                first_response_due_at=due_at or opened + levels.first_response(skill_group),
                resolution_due_at=opened + levels.resolution(skill_group, cross_department),
            )
            s.add(row)
            s.flush()
            row.number = f"T-{TICKET_BASE + row.id}"
            s.add(
                m.TicketEvent(
                    ticket_id=row.id, status="new", note=subject[:500], actor=actor, at=opened
                )
            )
            s.commit()
            return _ticket(s, row)

        return await self.db.run(work)

    async def get(self, number: str) -> TicketRecord:
        def work(s: Session) -> TicketRecord:
            return _ticket(s, _ticket_row(s, number))

        return await self.db.run(work)

    async def set_status(
        self,
        number: str,
        status: str,
        *,
        note: str = "",
        actor: str | None = None,
        expect: Iterable[str] | None = None,
    ) -> TicketRecord:
        if status not in TICKET_STATUSES:
            raise InputError(f"ticket status {status!r}; allowed: {', '.join(TICKET_STATUSES)}")
        expected = tuple(expect) if expect is not None else None

        def work(s: Session) -> TicketRecord:
            row = _ticket_row(s, number)
            now = clock.now()
            values: dict[str, Any] = {"status": status, "updated_at": now}
            if status == "resolved":
                values["resolved_at"] = now
            elif status == "closed":
                values["closed_at"] = now
                if row.resolved_at is None:
                    values["resolved_at"] = now
            else:  # reopened: the resolution clock runs again
                values["resolved_at"] = None
                values["closed_at"] = None
            stmt = update(m.Ticket).where(m.Ticket.id == row.id)
            if expected is not None:
                stmt = stmt.where(m.Ticket.status.in_(expected))
            if s.execute(stmt.values(**values)).rowcount == 0:  # type: ignore[attr-defined]
                s.rollback()
                raise TicketConflictError(
                    f"ticket {row.number} is {_current(s, row.id)} now; it cannot become {status}"
                )
            _event(s, row.id, status, "status", note, actor, now)
            s.commit()
            return _ticket(s, _ticket_row(s, number))

        return await self.db.run(work)

    async def of_customer(self, customer_id: str) -> list[TicketRecord]:
        def work(s: Session) -> list[TicketRecord]:
            rows = s.scalars(
                select(m.Ticket).where(m.Ticket.customer_id == customer_id).order_by(m.Ticket.id)
            )
            return [_ticket(s, r) for r in rows]

        return await self.db.run(work)

    async def claim(self, number: str, agent_id: str, *, actor: str) -> TicketRecord:
        def work(s: Session) -> TicketRecord:
            row = _ticket_row(s, number)
            now = clock.now()
            done = s.execute(
                update(m.Ticket)
                .where(
                    m.Ticket.id == row.id,
                    m.Ticket.assigned_to.is_(None),
                    m.Ticket.status.in_(OPEN_STATUSES),
                )
                .values(
                    assigned_to=agent_id,
                    status=_after_assignment(row.status),
                    updated_at=now,
                )
            )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                raise _refused(s, number, "was claimed by someone else")
            _event(s, row.id, _after_assignment(row.status), "assigned", "", actor, now)
            s.commit()
            return _ticket(s, _ticket_row(s, number))

        return await self.db.run(work)

    async def assign(self, number: str, agent_id: str | None, *, actor: str) -> TicketRecord:
        def work(s: Session) -> TicketRecord:
            row = _ticket_row(s, number)
            if row.status in DONE:
                raise TicketConflictError(f"ticket {row.number} is {row.status}")
            now = clock.now()
            row.assigned_to = agent_id
            row.status = _after_assignment(row.status) if agent_id else row.status
            if agent_id is None and row.status == "assigned":
                row.status = "new"  # back in the queue, nobody's
            row.updated_at = now
            _event(s, row.id, row.status, "assigned", "", actor, now)
            s.commit()
            return _ticket(s, row)

        return await self.db.run(work)

    async def add_event(
        self,
        number: str,
        kind: str,
        note: str,
        *,
        actor: str | None,
        message_id: int | None = None,
    ) -> TicketRecord:
        if kind not in EVENT_KINDS:
            raise InputError(f"ticket event {kind!r}; allowed: {', '.join(EVENT_KINDS)}")
        if len(note) > MAX_NOTE_CHARS:
            raise InputError(f"a ticket note is at most {MAX_NOTE_CHARS} characters")

        def work(s: Session) -> TicketRecord:
            row = _ticket_row(s, number)
            now = clock.now()
            if kind == "update" and row.first_response_at is None:
                row.first_response_at = now
            row.updated_at = now
            _event(s, row.id, row.status, kind, note, actor, now, message_id)
            s.commit()
            return _ticket(s, row)

        return await self.db.run(work)

    async def set_details(
        self,
        number: str,
        *,
        actor: str,
        skill_group: str | None = None,
        cross_department: bool | None = None,
    ) -> TicketRecord:
        levels = self.levels

        def work(s: Session) -> TicketRecord:
            row = _ticket_row(s, number)
            if row.status in DONE:
                raise TicketConflictError(f"ticket {row.number} is {row.status}")
            changed = []
            if skill_group is not None and skill_group != row.skill_group:
                changed.append(f"skill_group: {row.skill_group} -> {skill_group}")
                row.skill_group = skill_group
                row.assigned_to = None  # another team's queue: theirs to claim
                if row.status == "assigned":
                    row.status = "new"
            if cross_department is not None and cross_department != row.cross_department:
                changed.append(f"cross_department: {cross_department}")
                row.cross_department = cross_department
            if changed:
                opened = utc(row.created_at) or row.created_at
                row.resolution_due_at = opened + levels.resolution(
                    row.skill_group, row.cross_department
                )
                row.updated_at = clock.now()
                _event(s, row.id, row.status, "details", "; ".join(changed), actor, clock.now())
                s.commit()
            return _ticket(s, row)

        return await self.db.run(work)

    async def escalate(self, number: str, *, actor: str, note: str) -> TicketRecord:
        def work(s: Session) -> TicketRecord:
            row = _ticket_row(s, number)
            now = clock.now()
            done = s.execute(
                update(m.Ticket)
                .where(
                    m.Ticket.id == row.id,
                    m.Ticket.tier == 1,
                    m.Ticket.status.in_(OPEN_STATUSES),
                )
                .values(tier=2, escalated_at=now, updated_at=now)
            )
            if done.rowcount == 0:  # type: ignore[attr-defined]
                raise _refused(s, number, "is at tier 2 already")
            _event(s, row.id, row.status, "escalated", note[:MAX_NOTE_CHARS], actor, now)
            s.commit()
            return _ticket(s, _ticket_row(s, number))

        return await self.db.run(work)

    async def work(
        self,
        *,
        statuses: Iterable[str] = OPEN_STATUSES,
        groups: Iterable[str] | None = None,
        assigned_to: str | None = None,
        unassigned: bool = False,
        tier: int | None = None,
        limit: int = 200,
        ungrouped: bool = False,
    ) -> list[TicketRecord]:
        wanted = tuple(statuses)
        group_list = tuple(groups) if groups is not None else None

        def work(s: Session) -> list[TicketRecord]:
            q = select(m.Ticket).where(m.Ticket.status.in_(wanted))
            if group_list is not None:
                in_groups = m.Ticket.skill_group.in_(group_list)
                q = q.where(in_groups | m.Ticket.skill_group.is_(None) if ungrouped else in_groups)
            if assigned_to is not None:
                q = q.where(m.Ticket.assigned_to == assigned_to)
            if unassigned:
                q = q.where(m.Ticket.assigned_to.is_(None))
            if tier is not None:
                q = q.where(m.Ticket.tier == tier)
            rows = s.scalars(q.order_by(m.Ticket.id).limit(limit))
            return _listed(s, rows)

        return await self.db.run(work)

    async def opened_or_open(self, since: datetime, until: datetime) -> list[TicketRecord]:
        def work(s: Session) -> list[TicketRecord]:
            in_period = (m.Ticket.created_at >= since) & (m.Ticket.created_at < until)
            still_open = m.Ticket.status.in_(OPEN_STATUSES) & (m.Ticket.created_at < until)
            rows = s.scalars(select(m.Ticket).where(in_period | still_open).order_by(m.Ticket.id))
            return _listed(s, rows)

        return await self.db.run(work)

    async def resolved_before(self, cutoff: datetime, limit: int = 100) -> list[TicketRecord]:
        def work(s: Session) -> list[TicketRecord]:
            rows = s.scalars(
                select(m.Ticket)
                .where(m.Ticket.status == "resolved", m.Ticket.resolved_at < cutoff)
                .order_by(m.Ticket.id)
                .limit(limit)
            )
            return _listed(s, rows)

        return await self.db.run(work)


def _after_assignment(status: str) -> str:
    """A new ticket becomes assigned when someone takes it; one being worked keeps its status."""
    return "assigned" if status == "new" else status


def _current(s: Session, ticket_id: int) -> str:
    return s.scalar(select(m.Ticket.status).where(m.Ticket.id == ticket_id)) or "gone"


def _event(
    s: Session,
    ticket_id: int,
    status: str,
    kind: str,
    note: str,
    actor: str | None,
    at: datetime,
    message_id: int | None = None,
) -> None:
    s.add(
        m.TicketEvent(
            ticket_id=ticket_id,
            status=status,
            kind=kind,
            note=note,
            actor=actor,
            at=at,
            message_id=message_id,
        )
    )


def _refused(s: Session, number: str, otherwise: str) -> TicketConflictError:
    """After a conditional update that changed nothing: roll back and say why, from the ticket
    as it is now (done, or `otherwise`)."""
    s.rollback()
    fresh = _ticket_row(s, number)
    why = f"is {fresh.status}" if fresh.status in DONE else otherwise
    return TicketConflictError(f"ticket {fresh.number} {why}")


def _listed(s: Session, rows: Iterable[m.Ticket]) -> list[TicketRecord]:
    """Tickets of a list, without their history."""
    return [_ticket(s, r, history=False) for r in rows]


def _ticket_row(s: Session, number: str) -> m.Ticket:
    row = s.scalar(select(m.Ticket).where(func.upper(m.Ticket.number) == number.strip().upper()))
    if row is None:
        raise NotFoundError(f"no ticket {number!r}")
    return row


def _ticket(s: Session, row: m.Ticket, *, history: bool = True) -> TicketRecord:
    events: Iterable[m.TicketEvent] = ()
    if history:
        events = s.scalars(
            select(m.TicketEvent)
            .where(m.TicketEvent.ticket_id == row.id)
            .order_by(m.TicketEvent.id)
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
        tuple(
            TicketEventRecord(
                e.status, e.note, e.actor, utc(e.at) or e.at, e.kind or "status", e.message_id
            )
            for e in events
        ),
        assigned_to=row.assigned_to,
        tier=row.tier or 1,
        cross_department=bool(row.cross_department),
        first_response_due_at=utc(row.first_response_due_at),
        first_response_at=utc(row.first_response_at),
        resolution_due_at=utc(row.resolution_due_at),
        resolved_at=utc(row.resolved_at),
        closed_at=utc(row.closed_at),
        escalated_at=utc(row.escalated_at),
    )
