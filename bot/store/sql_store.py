"""The SQL store: every write is one short transaction, and the ones that must be atomic across
processes (message numbering, queue assignment) are single conditional statements that the
database serialises, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.errors import InputError, RelaydeskError
from bot.store import models as m
from bot.store.engine import create_engine, migrate
from bot.store.records import (
    CONVERSATION_STATUSES,
    SENDERS,
    TICKET_STATUSES,
    AgentRecord,
    ConversationRecord,
    CustomerRecord,
    HandoffRecord,
    MessageRecord,
    NoteRecord,
    RatingRecord,
    TicketEventRecord,
    TicketRecord,
)

TICKET_BASE = 1000  # ticket numbers start at T-1001
MAX_TEXT_CHARS = 20_000


class NotFoundError(RelaydeskError):
    """The conversation, ticket, handoff or agent asked for does not exist."""


def _only(kind: str, fields: dict[str, Any], allowed: set[str]) -> None:
    """Refuse fields a caller may not set, naming them."""
    unknown = set(fields) - allowed
    if unknown:
        raise InputError(f"unknown {kind} field(s): {', '.join(sorted(unknown))}")


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything leaving the store is timezone-aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _customer(row: m.Customer) -> CustomerRecord:
    return CustomerRecord(
        row.id,
        row.name,
        row.language,
        tuple(row.tags or ()),
        dict(row.attributes or {}),
        _utc(row.created_at) or row.created_at,
    )


def _conversation(row: m.Conversation) -> ConversationRecord:
    return ConversationRecord(
        row.id,
        row.customer_id,
        row.channel,
        row.status,
        row.language,
        row.failed_turns,
        row.negative_streak,
        row.last_seq,
        dict(row.state or {}),
        _utc(row.created_at) or row.created_at,
        _utc(row.updated_at) or row.updated_at,
        _utc(row.closed_at),
    )


def _message(row: m.Message, duplicate: bool = False) -> MessageRecord:
    return MessageRecord(
        row.id,
        row.conversation_id,
        row.seq,
        row.sender,
        row.sender_id,
        row.text,
        dict(row.payload or {}),
        row.parse,
        row.kb_article_id,
        row.kb_article_version,
        row.external_id,
        _utc(row.created_at) or row.created_at,
        duplicate,
    )


def _handoff(row: m.Handoff) -> HandoffRecord:
    return HandoffRecord(
        row.id,
        row.conversation_id,
        row.reason,
        row.skill_group,
        row.priority,
        row.language,
        row.status,
        _utc(row.queued_at) or row.queued_at,
        row.assigned_to,
        _utc(row.assigned_at),
        _utc(row.first_agent_reply_at),
        _utc(row.resolved_at),
    )


def _agent(row: m.Agent) -> AgentRecord:
    return AgentRecord(
        row.id,
        row.username,
        row.display_name,
        row.role,
        tuple(row.skills or ()),
        tuple(row.languages or ()),
        row.max_concurrent,
        row.status,
    )


class SqlStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    async def open(cls, url: str, base_dir: str | Path = ".") -> SqlStore:
        """Connect and apply pending migrations."""
        engine = create_engine(url, base_dir)
        await migrate(engine)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    def session(self) -> AsyncSession:
        return self._session()

    # -- customers --------------------------------------------------------------------------
    async def customer_for(
        self,
        channel: str,
        external_id: str,
        *,
        name: str | None = None,
        language: str | None = None,
    ) -> CustomerRecord:
        """The customer known as `external_id` on `channel`, created on first contact."""
        async with self.session() as s:
            row = await s.scalar(
                select(m.Customer)
                .join(m.ChannelIdentity, m.ChannelIdentity.customer_id == m.Customer.id)
                .where(
                    m.ChannelIdentity.channel == channel,
                    m.ChannelIdentity.external_id == external_id,
                )
            )
            if row is not None:
                return _customer(row)
            customer = m.Customer(name=name, language=language, tags=[], attributes={})
            s.add(customer)
            await s.flush()
            s.add(
                m.ChannelIdentity(customer_id=customer.id, channel=channel, external_id=external_id)
            )
            try:
                await s.commit()
            except IntegrityError:  # another process created it first: use theirs
                await s.rollback()
                return await self.customer_for(channel, external_id)
            return _customer(customer)

    async def link_identity(self, customer_id: str, channel: str, external_id: str) -> None:
        """Attach another channel identity to a known customer (cross-channel history)."""
        async with self.session() as s:
            existing = await s.scalar(
                select(m.ChannelIdentity).where(
                    m.ChannelIdentity.channel == channel,
                    m.ChannelIdentity.external_id == external_id,
                )
            )
            if existing is None:
                s.add(
                    m.ChannelIdentity(
                        customer_id=customer_id, channel=channel, external_id=external_id
                    )
                )
            else:
                existing.customer_id = customer_id
            await s.commit()

    async def customer(self, customer_id: str) -> CustomerRecord:
        async with self.session() as s:
            row = await s.get(m.Customer, customer_id)
            if row is None:
                raise NotFoundError(f"no customer {customer_id!r}")
            return _customer(row)

    async def update_customer(self, customer_id: str, **fields: Any) -> CustomerRecord:
        _only("customer", fields, {"name", "language", "tags", "attributes"})
        async with self.session() as s:
            row = await s.get(m.Customer, customer_id)
            if row is None:
                raise NotFoundError(f"no customer {customer_id!r}")
            for key, value in fields.items():
                setattr(row, key, list(value) if key == "tags" else value)
            await s.commit()
            return _customer(row)

    # -- conversations ----------------------------------------------------------------------
    async def active_conversation(self, customer_id: str, channel: str) -> ConversationRecord:
        """The customer's open conversation on this channel, or a new one."""
        async with self.session() as s:
            row = await s.scalar(
                select(m.Conversation)
                .where(
                    m.Conversation.customer_id == customer_id,
                    m.Conversation.channel == channel,
                    m.Conversation.status.in_(("bot", "queued", "assigned")),
                )
                .order_by(m.Conversation.created_at.desc())
                .limit(1)
            )
            if row is None:
                row = m.Conversation(customer_id=customer_id, channel=channel, state={})
                s.add(row)
                await s.commit()
            return _conversation(row)

    async def awaiting_rating(self, customer_id: str, channel: str) -> ConversationRecord | None:
        """The customer's latest conversation on this channel if it was resolved and not rated."""
        async with self.session() as s:
            row = await s.scalar(
                select(m.Conversation)
                .where(m.Conversation.customer_id == customer_id, m.Conversation.channel == channel)
                .order_by(m.Conversation.created_at.desc())
                .limit(1)
            )
            if row is None or row.status != "resolved":
                return None
            rated = await s.scalar(select(m.Rating.id).where(m.Rating.conversation_id == row.id))
            return None if rated else _conversation(row)

    async def conversation(self, conversation_id: str) -> ConversationRecord:
        async with self.session() as s:
            row = await s.get(m.Conversation, conversation_id)
            if row is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            return _conversation(row)

    async def update_conversation(self, conversation_id: str, **fields: Any) -> None:
        _only(
            "conversation",
            fields,
            {"status", "language", "failed_turns", "negative_streak", "state", "closed_at"},
        )
        if "status" in fields and fields["status"] not in CONVERSATION_STATUSES:
            raise InputError(f"status {fields['status']!r}; allowed: {CONVERSATION_STATUSES}")
        async with self.session() as s:
            result = await s.execute(
                update(m.Conversation)
                .where(m.Conversation.id == conversation_id)
                .values(**fields, updated_at=datetime.now(UTC))
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no conversation {conversation_id!r}")
            await s.commit()

    async def conversations_of(self, customer_id: str) -> list[ConversationRecord]:
        async with self.session() as s:
            rows = await s.scalars(
                select(m.Conversation)
                .where(m.Conversation.customer_id == customer_id)
                .order_by(m.Conversation.created_at)
            )
            return [_conversation(r) for r in rows]

    # -- messages ---------------------------------------------------------------------------
    async def append_message(
        self,
        conversation_id: str,
        sender: str,
        text: str,
        *,
        sender_id: str | None = None,
        payload: dict[str, Any] | None = None,
        parse: dict[str, Any] | None = None,
        kb_article: dict[str, Any] | None = None,
        external_id: str | None = None,
    ) -> MessageRecord:
        """Store a message with the conversation's next sequence number.

        The number comes from one conditional UPDATE ... RETURNING, which the database
        serialises, so concurrent writers (threads or processes) never share or skip a number.
        A message whose `external_id` was stored before is not stored again: the earlier
        record comes back with `duplicate=True`.
        """
        message, _ = await self._append(
            conversation_id,
            sender,
            text,
            sender_id=sender_id,
            payload=payload,
            parse=parse,
            kb_article=kb_article,
            external_id=external_id,
        )
        return message

    async def append_inbound(
        self, conversation_id: str, text: str, *, external_id: str | None = None
    ) -> tuple[MessageRecord, ConversationRecord]:
        """Store a customer message and return it with the conversation's state, in one
        transaction (the state comes back from the numbering UPDATE itself)."""
        return await self._append(conversation_id, "customer", text, external_id=external_id)

    async def _append(
        self,
        conversation_id: str,
        sender: str,
        text: str,
        *,
        sender_id: str | None = None,
        payload: dict[str, Any] | None = None,
        parse: dict[str, Any] | None = None,
        kb_article: dict[str, Any] | None = None,
        external_id: str | None = None,
    ) -> tuple[MessageRecord, ConversationRecord]:
        if sender not in SENDERS:
            raise InputError(f"sender {sender!r}; allowed: {', '.join(SENDERS)}")
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"message text over {MAX_TEXT_CHARS} characters")
        async with self.session() as s:
            if external_id is not None:
                found = await self._by_external(s, conversation_id, external_id)
                if found is not None:
                    conv = await s.get(m.Conversation, conversation_id)
                    assert conv is not None  # the message references it
                    return _message(found, duplicate=True), _conversation(conv)
            conv = await s.scalar(
                update(m.Conversation)
                .where(m.Conversation.id == conversation_id)
                .values(last_seq=m.Conversation.last_seq + 1, updated_at=datetime.now(UTC))
                .returning(m.Conversation)
            )
            if conv is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            record = _conversation(conv)
            row = m.Message(
                conversation_id=conversation_id,
                seq=record.last_seq,
                sender=sender,
                sender_id=sender_id,
                text=text,
                payload=payload or {},
                parse=parse,
                external_id=external_id,
                kb_article_id=(kb_article or {}).get("id"),
                kb_article_version=(kb_article or {}).get("version"),
            )
            s.add(row)
            try:
                await s.commit()
                return _message(row), record
            except IntegrityError as exc:
                # The same external id was committed by a concurrent writer between our check
                # and our insert; theirs stands.
                await s.rollback()
                if external_id is None:
                    raise
                conflict = exc
        async with self.session() as s2:
            found = await self._by_external(s2, conversation_id, external_id)
            if found is None:
                raise conflict
            conv = await s2.get(m.Conversation, conversation_id)
            assert conv is not None
            return _message(found, duplicate=True), _conversation(conv)

    async def finish_turn(
        self,
        conversation_id: str,
        inbound_id: int,
        parse: dict[str, Any],
        replies: list[dict[str, Any]],
        **conversation: Any,
    ) -> list[MessageRecord]:
        """End a bot turn in one transaction: the inbound message's parse, the bot's replies
        (numbered after everything already stored) and the conversation's new state."""
        _only(
            "conversation",
            conversation,
            {"failed_turns", "negative_streak", "language", "state", "status"},
        )
        rows = []
        async with self.session() as s:
            await s.execute(update(m.Message).where(m.Message.id == inbound_id).values(parse=parse))
            if replies or conversation:
                # Reserve the reply numbers and set the new state with one statement.
                last = await s.scalar(
                    update(m.Conversation)
                    .where(m.Conversation.id == conversation_id)
                    .values(
                        last_seq=m.Conversation.last_seq + len(replies),
                        updated_at=datetime.now(UTC),
                        **conversation,
                    )
                    .returning(m.Conversation.last_seq)
                )
                if last is None:
                    raise NotFoundError(f"no conversation {conversation_id!r}")
                for n, reply in enumerate(replies):
                    kb = reply.get("kb_article") or {}
                    row = m.Message(
                        conversation_id=conversation_id,
                        seq=last - len(replies) + n + 1,
                        sender="bot",
                        text=reply.get("text", ""),
                        payload=reply.get("payload") or {},
                        kb_article_id=kb.get("id"),
                        kb_article_version=kb.get("version"),
                    )
                    s.add(row)
                    rows.append(row)
            await s.commit()
        return [_message(r) for r in rows]

    @staticmethod
    async def _by_external(s: AsyncSession, conversation_id: str, external_id: str) -> Any:
        return await s.scalar(
            select(m.Message).where(
                m.Message.conversation_id == conversation_id, m.Message.external_id == external_id
            )
        )

    async def messages(self, conversation_id: str, after_seq: int = 0) -> list[MessageRecord]:
        async with self.session() as s:
            rows = await s.scalars(
                select(m.Message)
                .where(m.Message.conversation_id == conversation_id, m.Message.seq > after_seq)
                .order_by(m.Message.seq)
            )
            return [_message(r) for r in rows]

    async def customer_messages(self, customer_id: str) -> list[MessageRecord]:
        """Every message of every conversation of a customer, across channels, in time order."""
        async with self.session() as s:
            rows = await s.scalars(
                select(m.Message)
                .join(m.Conversation, m.Conversation.id == m.Message.conversation_id)
                .where(m.Conversation.customer_id == customer_id)
                .order_by(m.Message.created_at, m.Message.id)
            )
            return [_message(r) for r in rows]

    # -- tickets ----------------------------------------------------------------------------
    async def create_ticket(
        self,
        customer_id: str,
        subject: str,
        *,
        conversation_id: str | None = None,
        skill_group: str | None = None,
        due_at: datetime | None = None,
        actor: str = "bot",
    ) -> TicketRecord:
        async with self.session() as s:
            row = m.Ticket(
                customer_id=customer_id,
                conversation_id=conversation_id,
                subject=subject[:500],
                skill_group=skill_group,
                due_at=due_at,
            )
            s.add(row)
            await s.flush()
            row.number = f"T-{TICKET_BASE + row.id}"
            s.add(m.TicketEvent(ticket_id=row.id, status="new", note=subject[:500], actor=actor))
            await s.commit()
        return await self.ticket(row.number)

    async def ticket(self, number: str) -> TicketRecord:
        async with self.session() as s:
            row = await s.scalar(
                select(m.Ticket).where(func.upper(m.Ticket.number) == number.strip().upper())
            )
            if row is None:
                raise NotFoundError(f"no ticket {number!r}")
            events = await s.scalars(
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
                _utc(row.due_at),
                _utc(row.created_at) or row.created_at,
                _utc(row.updated_at) or row.updated_at,
                tuple(
                    TicketEventRecord(e.status, e.note, e.actor, _utc(e.at) or e.at) for e in events
                ),
            )

    async def set_ticket_status(
        self, number: str, status: str, *, note: str = "", actor: str | None = None
    ) -> TicketRecord:
        if status not in TICKET_STATUSES:
            raise InputError(f"ticket status {status!r}; allowed: {', '.join(TICKET_STATUSES)}")
        current = await self.ticket(number)
        async with self.session() as s:
            await s.execute(
                update(m.Ticket)
                .where(m.Ticket.id == current.id)
                .values(status=status, updated_at=datetime.now(UTC))
            )
            s.add(m.TicketEvent(ticket_id=current.id, status=status, note=note, actor=actor))
            await s.commit()
        return await self.ticket(number)

    # -- agents and handoffs ----------------------------------------------------------------
    async def add_agent(
        self,
        username: str,
        display_name: str,
        *,
        role: str = "agent",
        skills: list[str] | None = None,
        languages: list[str] | None = None,
        max_concurrent: int = 3,
        status: str = "offline",
    ) -> AgentRecord:
        async with self.session() as s:
            row = m.Agent(
                username=username,
                display_name=display_name,
                role=role,
                skills=skills or [],
                languages=languages or ["zh", "en"],
                max_concurrent=max_concurrent,
                status=status,
            )
            s.add(row)
            try:
                await s.commit()
            except IntegrityError as exc:
                raise InputError(f"agent {username!r} exists already") from exc
            return _agent(row)

    async def update_agent(self, username: str, **fields: Any) -> AgentRecord:
        _only(
            "agent",
            fields,
            {"display_name", "role", "skills", "languages", "max_concurrent", "status"},
        )
        async with self.session() as s:
            row = await s.scalar(select(m.Agent).where(m.Agent.username == username))
            if row is None:
                raise NotFoundError(f"no agent {username!r}")
            for key, value in fields.items():
                setattr(row, key, value)
            await s.commit()
            return _agent(row)

    async def agent_loads(self) -> dict[str, int]:
        """Conversations each agent currently holds."""
        async with self.session() as s:
            rows = await s.execute(
                select(m.Handoff.assigned_to, func.count(m.Handoff.id))
                .where(m.Handoff.status == "assigned")
                .group_by(m.Handoff.assigned_to)
            )
            return {str(agent): int(n) for agent, n in rows.all() if agent is not None}

    async def agents(self) -> list[AgentRecord]:
        async with self.session() as s:
            return [_agent(r) for r in await s.scalars(select(m.Agent).order_by(m.Agent.username))]

    async def queue_handoff(
        self,
        conversation_id: str,
        reason: str,
        skill_group: str,
        *,
        priority: int = 0,
        language: str | None = None,
    ) -> HandoffRecord:
        async with self.session() as s:
            row = m.Handoff(
                conversation_id=conversation_id,
                reason=reason,
                skill_group=skill_group,
                priority=priority,
                language=language,
            )
            s.add(row)
            await s.execute(
                update(m.Conversation)
                .where(m.Conversation.id == conversation_id)
                .values(status="queued", updated_at=datetime.now(UTC))
            )
            await s.commit()
            return _handoff(row)

    async def assign_handoff(self, handoff_id: int, agent_id: str) -> bool:
        """Give a queued handoff to an agent, atomically: it succeeds for exactly one caller,
        and never takes an agent past their maximum of concurrent chats."""
        async with self.session() as s:
            # Lock the agent's row (PostgreSQL; SQLite serialises writers anyway) so two
            # assignments to one agent are counted one after the other, never side by side.
            agent = await s.get(m.Agent, agent_id, with_for_update=True)
            if agent is None:
                raise NotFoundError(f"no agent {agent_id!r}")
            load = (
                select(func.count(m.Handoff.id))
                .where(m.Handoff.assigned_to == agent_id, m.Handoff.status == "assigned")
                .scalar_subquery()
            )
            result = await s.execute(
                update(m.Handoff)
                .where(
                    and_(
                        m.Handoff.id == handoff_id,
                        m.Handoff.status == "queued",
                        load < agent.max_concurrent,
                    )
                )
                .values(status="assigned", assigned_to=agent_id, assigned_at=datetime.now(UTC))
                .returning(m.Handoff.conversation_id)
            )
            conversation_id = result.scalar()
            if conversation_id is None:
                await s.rollback()
                return False
            await s.execute(
                update(m.Conversation)
                .where(m.Conversation.id == conversation_id)
                .values(status="assigned", updated_at=datetime.now(UTC))
            )
            await s.commit()
            return True

    async def handoff(self, handoff_id: int) -> HandoffRecord:
        async with self.session() as s:
            row = await s.get(m.Handoff, handoff_id)
            if row is None:
                raise NotFoundError(f"no handoff {handoff_id}")
            return _handoff(row)

    async def active_handoff(self, conversation_id: str) -> HandoffRecord | None:
        """The conversation's handoff that is still queued or assigned, if any."""
        async with self.session() as s:
            row = await s.scalar(
                select(m.Handoff)
                .where(
                    m.Handoff.conversation_id == conversation_id,
                    m.Handoff.status.in_(("queued", "assigned")),
                )
                .order_by(m.Handoff.id.desc())
                .limit(1)
            )
            return _handoff(row) if row else None

    async def update_handoff(self, handoff_id: int, **fields: Any) -> None:
        _only(
            "handoff",
            fields,
            {
                "status",
                "assigned_to",
                "assigned_at",
                "first_agent_reply_at",
                "resolved_at",
                "skill_group",
                "priority",
            },
        )
        async with self.session() as s:
            await s.execute(update(m.Handoff).where(m.Handoff.id == handoff_id).values(**fields))
            await s.commit()

    async def agent(self, username: str) -> AgentRecord:
        async with self.session() as s:
            row = await s.scalar(select(m.Agent).where(m.Agent.username == username))
            if row is None:
                raise NotFoundError(f"no agent {username!r}")
            return _agent(row)

    async def queued_handoffs(self) -> list[HandoffRecord]:
        """Waiting handoffs, highest priority first, then first in, first out."""
        async with self.session() as s:
            rows = await s.scalars(
                select(m.Handoff)
                .where(m.Handoff.status == "queued")
                .order_by(m.Handoff.priority.desc(), m.Handoff.queued_at, m.Handoff.id)
            )
            return [_handoff(r) for r in rows]

    # -- private notes ----------------------------------------------------------------------
    async def add_note(self, conversation_id: str, agent_id: str | None, text: str) -> NoteRecord:
        if not text.strip():
            raise InputError("the note is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"note over {MAX_TEXT_CHARS} characters")
        async with self.session() as s:
            if await s.get(m.Conversation, conversation_id) is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            row = m.Note(conversation_id=conversation_id, agent_id=agent_id, text=text)
            s.add(row)
            await s.commit()
            return NoteRecord(
                row.id, conversation_id, agent_id, row.text, _utc(row.created_at) or row.created_at
            )

    async def notes(self, conversation_id: str) -> list[NoteRecord]:
        async with self.session() as s:
            rows = await s.scalars(
                select(m.Note).where(m.Note.conversation_id == conversation_id).order_by(m.Note.id)
            )
            return [
                NoteRecord(
                    r.id, r.conversation_id, r.agent_id, r.text, _utc(r.created_at) or r.created_at
                )
                for r in rows
            ]

    # -- ratings ----------------------------------------------------------------------------
    async def rate(self, conversation_id: str, score: int, comment: str = "") -> RatingRecord:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InputError(f"rating {score!r}: a whole number from 1 to 5")
        async with self.session() as s:
            row = m.Rating(conversation_id=conversation_id, score=score, comment=comment[:2000])
            s.add(row)
            try:
                await s.commit()
            except IntegrityError as exc:
                raise InputError("this conversation has been rated already") from exc
            return RatingRecord(
                conversation_id, score, row.comment, _utc(row.created_at) or row.created_at
            )
