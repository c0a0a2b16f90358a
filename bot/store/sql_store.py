"""The SQL store: every write is one short transaction, and the ones that must be atomic across
processes (message numbering, queue assignment) are single conditional statements that the
database serialises, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError, RelaydeskError
from bot.events import LocalMessageBus, MessageBus, MessageEvent
from bot.privacy import mask_parse, mask_text
from bot.store import models as m
from bot.store.engine import Database, open_database
from bot.store.models import new_id
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
T = TypeVar("T")
# The hot path (a bot turn) uses the tables directly: Core statements cost a fraction of the ORM's.
CUST = cast(Table, m.Customer.__table__)
IDENT = cast(Table, m.ChannelIdentity.__table__)
CONV = cast(Table, m.Conversation.__table__)
MSG = cast(Table, m.Message.__table__)
DLV = cast(Table, m.Delivery.__table__)

# Channels whose outbound messages are pushed by a worker (connectors/outbox.py) rather than
# read by the customer's client: each such message gets a delivery row in its own transaction.
PUSHED_CHANNELS = frozenset({"telegram", "wechat"})


class NotFoundError(RelaydeskError):
    """The conversation, ticket, handoff or agent asked for does not exist."""


class TurnFinishedError(RelaydeskError):
    """The turn was finished meanwhile by another runner (a recovery, on this instance or
    another); its outcome is stored once, and this runner's is dropped."""


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


def _customer(row: Any) -> CustomerRecord:
    return CustomerRecord(
        row.id,
        row.name,
        row.language,
        tuple(row.tags or ()),
        dict(row.attributes or {}),
        _utc(row.created_at) or row.created_at,
    )


def _conversation(row: Any) -> ConversationRecord:
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


def _message(row: Any, duplicate: bool = False) -> MessageRecord:
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
        row.position_told,
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


@dataclass(frozen=True)
class TurnStart:
    """What `begin_turn` found or created, with the stored inbound message."""

    customer: CustomerRecord
    conversation: ConversationRecord  # as of just after the inbound message was numbered
    inbound: MessageRecord


_OPEN = ("bot", "queued", "assigned")


class SqlStore:
    def __init__(self, db: Database, bus: MessageBus | None = None) -> None:
        self.db = db
        self.bus = bus or LocalMessageBus()
        # After this long without a message, a conversation the bot holds is over; the next
        # message opens a new one. None: conversations never expire.
        self.session_expiry: timedelta | None = None
        # Store customers' words with e-mail addresses and phone numbers masked
        # (privacy.mask_transcripts): messages, their parses, ticket subjects, rating comments.
        self.mask_transcripts = False

    @classmethod
    async def open(
        cls, url: str, base_dir: str | Path = ".", bus: MessageBus | None = None
    ) -> SqlStore:
        """Connect and apply pending migrations."""
        db = open_database(url, base_dir)
        await db.migrate()
        return cls(db, bus)

    async def _published(self, *messages: MessageRecord) -> None:
        """Tell the bus about messages just committed (never about a duplicate)."""
        for msg in messages:
            if not msg.duplicate:
                await self.bus.publish(MessageEvent(msg.conversation_id, msg.seq, msg.sender))

    async def close(self) -> None:
        await self.db.close()

    async def _retrying(self, fn: Callable[[Session], T], attempts: int = 3) -> T:
        """Run `fn`, again if a concurrent writer (another process) won a unique-key race: the
        next attempt finds what they stored."""
        for attempt in range(attempts):
            try:
                return await self.db.run(fn)
            except IntegrityError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    # -- the bot turn's hot path ------------------------------------------------------------
    async def begin_turn(
        self, channel: str, sender: str, text: str, *, external_id: str | None = None
    ) -> TurnStart:
        """Store a customer's message before anything else happens, in one transaction: find
        (or create) the customer known as `sender` on `channel` and their open conversation,
        and number and store the message. A message whose `external_id` was stored before
        comes back with `duplicate=True` and is not stored again.

        With `mask_transcripts` the database gets the text masked, but the record returned
        keeps what the customer wrote: this turn's understanding needs it, nothing keeps it."""
        _check_text(text)
        stored_text = mask_text(text) if self.mask_transcripts else text

        expiry = self.session_expiry

        def work(s: Session) -> TurnStart:
            customer, conv_id = _identity(s, channel, sender)
            if conv_id is not None and expiry is not None:
                # A bot conversation idle for longer than the session expiry has ended (as
                # Rasa's session_expiration_time): close it where it went quiet, start anew.
                quiet = s.execute(
                    update(CONV)
                    .where(
                        CONV.c.id == conv_id,
                        CONV.c.status == "bot",
                        CONV.c.updated_at < clock.now() - expiry,
                    )
                    .values(status="closed", closed_at=CONV.c.updated_at)
                ).rowcount  # type: ignore[attr-defined]
                if quiet:
                    conv_id = None
            if conv_id is None:
                conv_id = new_id()
                s.execute(
                    insert(CONV).values(
                        id=conv_id, customer_id=customer.id, channel=channel, state={}
                    )
                )
            if external_id is not None:
                found = _by_external(s, conv_id, external_id)
                if found is not None:
                    row = s.execute(select(CONV).where(CONV.c.id == conv_id)).one()
                    s.commit()
                    return TurnStart(customer, _conversation(row), _message(found, True))
            conv, message = _number_and_insert(s, conv_id, "customer", stored_text, {}, external_id)
            s.commit()
            return TurnStart(customer, conv, replace(message, text=text))

        # Published by finish_turn, with its parse: a listener reads it complete.
        return await self._retrying(work)

    async def finish_turn(
        self,
        conversation_id: str,
        inbound_id: int,
        parse: dict[str, Any],
        replies: list[dict[str, Any]],
        *,
        inbound_seq: int | None = None,
        hold_s: float = 0.0,
        **conversation: Any,
    ) -> list[MessageRecord]:
        """End a bot turn in one transaction: the inbound message's parse, the bot's replies
        (numbered after everything already stored) and the conversation's new state. Then the
        inbound message (`inbound_seq`) and the replies are published. `hold_s` keeps the
        replies' deliveries back that long (a channel that may answer in the webhook itself).

        Raises TurnFinishedError, storing nothing, when the message has its parse already: two
        runners of one turn (a lock that expired under a stalled turn) answer it once."""
        _only(
            "conversation",
            conversation,
            {"failed_turns", "negative_streak", "language", "state", "status"},
        )
        if self.mask_transcripts:  # the parse repeats the text and its entities
            parse = mask_parse(parse)

        def work(s: Session) -> list[MessageRecord]:
            done = s.execute(
                update(MSG).where(MSG.c.id == inbound_id, MSG.c.parse.is_(None)).values(parse=parse)
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                s.rollback()
                raise TurnFinishedError(f"message {inbound_id} was answered meanwhile")
            fields = dict(conversation)
            # A handoff this turn queued joins the queue with the reply that tells the customer.
            joined = s.execute(
                update(m.Handoff)
                .where(m.Handoff.conversation_id == conversation_id, m.Handoff.status == "pending")
                .values(status="queued")
            )
            if joined.rowcount:  # type: ignore[attr-defined]
                fields["status"] = "queued"
            stored: list[MessageRecord] = []
            if replies or fields:
                # Reserve the reply numbers and set the new state with one statement.
                row = s.execute(
                    update(CONV)
                    .where(CONV.c.id == conversation_id)
                    .values(
                        last_seq=CONV.c.last_seq + len(replies),
                        updated_at=clock.now(),
                        **fields,
                    )
                    .returning(CONV.c.last_seq, CONV.c.channel)
                ).first()
                if row is None:
                    raise NotFoundError(f"no conversation {conversation_id!r}")
                last, channel = row
                at = clock.now()
                values = []
                for n, reply in enumerate(replies):
                    kb = reply.get("kb_article") or {}
                    values.append(
                        {
                            "conversation_id": conversation_id,
                            "seq": last - len(replies) + n + 1,
                            "sender": "bot",
                            "sender_id": None,
                            "text": reply.get("text", ""),
                            "payload": reply.get("payload") or {},
                            "parse": None,
                            "kb_article_id": kb.get("id"),
                            "kb_article_version": kb.get("version"),
                            "external_id": None,
                            "created_at": at,
                        }
                    )
                if values:
                    ids = s.execute(insert(MSG).returning(MSG.c.id), values).scalars().all()
                    _enqueue_deliveries(
                        s, conversation_id, list(ids), channel=channel, hold_s=hold_s
                    )
                    stored = [
                        MessageRecord(
                            i,
                            conversation_id,
                            v["seq"],
                            "bot",
                            None,
                            v["text"],
                            v["payload"],
                            None,
                            v["kb_article_id"],
                            v["kb_article_version"],
                            None,
                            at,
                        )
                        for i, v in zip(ids, values, strict=True)
                    ]
            s.commit()
            return stored

        stored = await self.db.run(work)
        if inbound_seq is not None:
            await self.bus.publish(MessageEvent(conversation_id, inbound_seq, "customer"))
        await self._published(*stored)
        return stored

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

        def work(s: Session) -> CustomerRecord:
            customer, _ = _identity(s, channel, external_id, name=name, language=language)
            s.commit()
            return customer

        return await self._retrying(work)

    async def find_customer(self, channel: str, external_id: str) -> CustomerRecord | None:
        """The customer known as `external_id` on `channel`, without creating one."""

        def work(s: Session) -> CustomerRecord | None:
            row = s.execute(_known_as(select(CUST), channel, external_id)).first()
            return _customer(row) if row is not None else None

        return await self.db.run(work)

    async def link_identity(self, customer_id: str, channel: str, external_id: str) -> None:
        """Attach another channel identity to a known customer (cross-channel history)."""

        def work(s: Session) -> None:
            existing = s.scalar(
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
            s.commit()

        await self._retrying(work)

    async def customer(self, customer_id: str) -> CustomerRecord:
        def work(s: Session) -> CustomerRecord:
            row = s.get(m.Customer, customer_id)
            if row is None:
                raise NotFoundError(f"no customer {customer_id!r}")
            return _customer(row)

        return await self.db.run(work)

    async def update_customer(self, customer_id: str, **fields: Any) -> CustomerRecord:
        _only("customer", fields, {"name", "language", "tags", "attributes"})

        def work(s: Session) -> CustomerRecord:
            row = s.get(m.Customer, customer_id)
            if row is None:
                raise NotFoundError(f"no customer {customer_id!r}")
            for key, value in fields.items():
                setattr(row, key, list(value) if key == "tags" else value)
            s.commit()
            return _customer(row)

        return await self.db.run(work)

    # -- conversations ----------------------------------------------------------------------
    async def active_conversation(self, customer_id: str, channel: str) -> ConversationRecord:
        """The customer's open conversation on this channel, or a new one."""

        def work(s: Session) -> ConversationRecord:
            row = s.scalar(
                select(m.Conversation)
                .where(
                    m.Conversation.customer_id == customer_id,
                    m.Conversation.channel == channel,
                    m.Conversation.status.in_(_OPEN),
                )
                .order_by(m.Conversation.created_at.desc())
                .limit(1)
            )
            if row is None:
                row = m.Conversation(customer_id=customer_id, channel=channel, state={})
                s.add(row)
                s.commit()
            return _conversation(row)

        return await self.db.run(work)

    async def latest_conversation(
        self, customer_id: str, channel: str
    ) -> ConversationRecord | None:
        """The customer's newest conversation on this channel, open or not."""

        def work(s: Session) -> ConversationRecord | None:
            row = _latest_conversation(s, customer_id, channel)
            return _conversation(row) if row is not None else None

        return await self.db.run(work)

    async def awaiting_rating(self, customer_id: str, channel: str) -> ConversationRecord | None:
        """The customer's latest conversation on this channel if it was resolved and not rated."""

        def work(s: Session) -> ConversationRecord | None:
            row = _latest_conversation(s, customer_id, channel)
            if row is None or row.status != "resolved":
                return None
            rated = s.scalar(select(m.Rating.id).where(m.Rating.conversation_id == row.id))
            return None if rated else _conversation(row)

        return await self.db.run(work)

    async def conversation(self, conversation_id: str) -> ConversationRecord:
        def work(s: Session) -> ConversationRecord:
            row = s.get(m.Conversation, conversation_id)
            if row is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            return _conversation(row)

        return await self.db.run(work)

    async def update_conversation(self, conversation_id: str, **fields: Any) -> None:
        _only(
            "conversation",
            fields,
            {"status", "language", "failed_turns", "negative_streak", "state", "closed_at"},
        )
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

    async def conversations_of(self, customer_id: str) -> list[ConversationRecord]:
        def work(s: Session) -> list[ConversationRecord]:
            rows = s.scalars(
                select(m.Conversation)
                .where(m.Conversation.customer_id == customer_id)
                .order_by(m.Conversation.created_at)
            )
            return [_conversation(r) for r in rows]

        return await self.db.run(work)

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
        if sender not in SENDERS:
            raise InputError(f"sender {sender!r}; allowed: {', '.join(SENDERS)}")
        _check_text(text)
        if sender == "customer" and self.mask_transcripts:
            text = mask_text(text)
            parse = mask_parse(parse) if parse is not None else None

        def work(s: Session) -> MessageRecord:
            if external_id is not None:
                found = _by_external(s, conversation_id, external_id)
                if found is not None:
                    return _message(found, duplicate=True)
            _, message = _number_and_insert(
                s,
                conversation_id,
                sender,
                text,
                payload or {},
                external_id,
                sender_id=sender_id,
                parse=parse,
                kb_article=kb_article,
            )
            s.commit()
            return message

        message = await self._retrying(work)
        await self._published(message)
        return message

    async def messages(self, conversation_id: str, after_seq: int = 0) -> list[MessageRecord]:
        def work(s: Session) -> list[MessageRecord]:
            rows = s.execute(
                select(MSG)
                .where(MSG.c.conversation_id == conversation_id, MSG.c.seq > after_seq)
                .order_by(MSG.c.seq)
            )
            return [_message(r) for r in rows]

        return await self.db.run(work)

    async def customer_messages(self, customer_id: str) -> list[MessageRecord]:
        """Every message of every conversation of a customer, across channels, in time order."""

        def work(s: Session) -> list[MessageRecord]:
            rows = s.execute(
                select(MSG)
                .join(CONV, CONV.c.id == MSG.c.conversation_id)
                .where(CONV.c.customer_id == customer_id)
                .order_by(MSG.c.created_at, MSG.c.id)
            )
            return [_message(r) for r in rows]

        return await self.db.run(work)

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
        if self.mask_transcripts:  # the bot's subject is the customer's message
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

    async def ticket(self, number: str) -> TicketRecord:
        def work(s: Session) -> TicketRecord:
            row = _ticket_row(s, number)
            return _ticket(s, row)

        return await self.db.run(work)

    async def set_ticket_status(
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
        def work(s: Session) -> AgentRecord:
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
                s.commit()
            except IntegrityError as exc:
                raise InputError(f"agent {username!r} exists already") from exc
            return _agent(row)

        return await self.db.run(work)

    async def update_agent(self, username: str, **fields: Any) -> AgentRecord:
        _only(
            "agent",
            fields,
            {"display_name", "role", "skills", "languages", "max_concurrent", "status"},
        )

        def work(s: Session) -> AgentRecord:
            row = agent_row(s, username)
            for key, value in fields.items():
                setattr(row, key, value)
            s.commit()
            return _agent(row)

        return await self.db.run(work)

    async def agent_loads(self) -> dict[str, int]:
        """Conversations each agent currently holds."""

        def work(s: Session) -> dict[str, int]:
            rows = s.execute(
                select(m.Handoff.assigned_to, func.count(m.Handoff.id))
                .where(m.Handoff.status == "assigned")
                .group_by(m.Handoff.assigned_to)
            )
            return {str(agent): int(n) for agent, n in rows.all() if agent is not None}

        return await self.db.run(work)

    async def agents(self) -> list[AgentRecord]:
        def work(s: Session) -> list[AgentRecord]:
            return [_agent(r) for r in s.scalars(select(m.Agent).order_by(m.Agent.username))]

        return await self.db.run(work)

    async def agent(self, username: str) -> AgentRecord:
        def work(s: Session) -> AgentRecord:
            row = agent_row(s, username)
            return _agent(row)

        return await self.db.run(work)

    async def queue_handoff(
        self,
        conversation_id: str,
        reason: str,
        skill_group: str,
        *,
        priority: int = 0,
        language: str | None = None,
        pending: bool = False,
    ) -> HandoffRecord:
        """Put the conversation in the queue. A `pending` handoff is one the bot's turn is still
        answering: nobody sees or claims it until `finish_turn` stores the reply that tells the
        customer, in the same transaction, so no agent's "joined" or queue update can be
        numbered before that reply. Only an agent assigned automatically may take it earlier."""

        def work(s: Session) -> HandoffRecord:
            if pending:  # one left by a turn that died before finishing: it was never seen
                s.execute(
                    delete(m.Handoff).where(
                        m.Handoff.conversation_id == conversation_id,
                        m.Handoff.status == "pending",
                    )
                )
            row = m.Handoff(
                conversation_id=conversation_id,
                reason=reason,
                skill_group=skill_group,
                priority=priority,
                language=language,
                status="pending" if pending else "queued",
            )
            s.add(row)
            if not pending:
                s.execute(
                    update(CONV)
                    .where(CONV.c.id == conversation_id)
                    .values(status="queued", updated_at=clock.now())
                )
            s.commit()
            return _handoff(row)

        return await self.db.run(work)

    async def assign_handoff(self, handoff_id: int, agent_id: str) -> bool:
        """Give a queued handoff to an agent, atomically: it succeeds for exactly one caller,
        and never takes an agent past their maximum of concurrent chats."""

        def work(s: Session) -> bool:
            # Lock the agent's row (PostgreSQL; SQLite serialises writers anyway) so two
            # assignments to one agent are counted one after the other, never side by side.
            agent = s.get(m.Agent, agent_id, with_for_update=True)
            if agent is None:
                raise NotFoundError(f"no agent {agent_id!r}")
            load = (
                select(func.count(m.Handoff.id))
                .where(m.Handoff.assigned_to == agent_id, m.Handoff.status == "assigned")
                .scalar_subquery()
            )
            conversation_id = s.execute(
                update(m.Handoff)
                .where(
                    and_(
                        m.Handoff.id == handoff_id,
                        m.Handoff.status.in_(("queued", "pending")),
                        load < agent.max_concurrent,
                    )
                )
                .values(status="assigned", assigned_to=agent_id, assigned_at=clock.now())
                .returning(m.Handoff.conversation_id)
            ).scalar()
            if conversation_id is None:
                s.rollback()
                return False
            s.execute(
                update(CONV)
                .where(CONV.c.id == conversation_id)
                .values(status="assigned", updated_at=clock.now())
            )
            s.commit()
            return True

        return await self.db.run(work)

    async def handoff(self, handoff_id: int) -> HandoffRecord:
        def work(s: Session) -> HandoffRecord:
            row = s.get(m.Handoff, handoff_id)
            if row is None:
                raise NotFoundError(f"no handoff {handoff_id}")
            return _handoff(row)

        return await self.db.run(work)

    async def active_handoff(self, conversation_id: str) -> HandoffRecord | None:
        """The conversation's handoff that is still queued or assigned, if any."""

        def work(s: Session) -> HandoffRecord | None:
            row = s.scalar(
                select(m.Handoff)
                .where(
                    m.Handoff.conversation_id == conversation_id,
                    m.Handoff.status.in_(("queued", "assigned")),
                )
                .order_by(m.Handoff.id.desc())
                .limit(1)
            )
            return _handoff(row) if row else None

        return await self.db.run(work)

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

        def work(s: Session) -> None:
            s.execute(update(m.Handoff).where(m.Handoff.id == handoff_id).values(**fields))
            s.commit()

        await self.db.run(work)

    async def tell_position(self, handoff_id: int, position: int) -> bool:
        """Record that the customer was told `position`; False when they were told it already
        or the handoff left the queue, so concurrent announcers (threads or processes) never
        send the same update twice."""

        def work(s: Session) -> bool:
            done = s.execute(
                update(m.Handoff)
                .where(
                    m.Handoff.id == handoff_id,
                    m.Handoff.status.in_(("queued", "pending")),
                    or_(m.Handoff.position_told.is_(None), m.Handoff.position_told != position),
                )
                .values(position_told=position)
            )
            s.commit()
            return bool(done.rowcount)  # type: ignore[attr-defined]

        return await self.db.run(work)

    async def queued_handoffs(self) -> list[HandoffRecord]:
        """Waiting handoffs, highest priority first, then first in, first out."""

        def work(s: Session) -> list[HandoffRecord]:
            rows = s.scalars(
                select(m.Handoff)
                .where(m.Handoff.status == "queued")
                .order_by(m.Handoff.priority.desc(), m.Handoff.queued_at, m.Handoff.id)
            )
            return [_handoff(r) for r in rows]

        return await self.db.run(work)

    async def handoff_views(
        self, *, statuses: tuple[str, ...] = ("queued",), assigned_to: str | None = None
    ) -> list[dict[str, Any]]:
        """The queue (or one agent's chats) as the console lists it: each handoff with its
        customer, channel and the sentiment of the customer's latest message, in service order."""

        def work(s: Session) -> list[dict[str, Any]]:
            h, a = m.Handoff, m.Agent
            latest_parse = (
                select(MSG.c.parse)
                .where(MSG.c.conversation_id == h.conversation_id, MSG.c.sender == "customer")
                .order_by(MSG.c.seq.desc())
                .limit(1)
                .scalar_subquery()
            )
            q = (
                select(h, CONV.c.channel, CONV.c.customer_id, CUST, a.username, latest_parse)
                .join(CONV, CONV.c.id == h.conversation_id)
                .join(CUST, CUST.c.id == CONV.c.customer_id)
                .outerjoin(a, a.id == h.assigned_to)
                .where(h.status.in_(statuses))
                .order_by(h.priority.desc(), h.queued_at, h.id)
            )
            if assigned_to is not None:
                q = q.where(h.assigned_to == assigned_to)
            now = clock.now()
            out = []
            for row in s.execute(q):
                handoff = row[0]
                parse = row[-1]
                if isinstance(parse, str):  # a JSON scalar subquery comes back as text
                    parse = json.loads(parse)
                queued_at = _utc(handoff.queued_at) or now
                out.append(
                    {
                        "handoff_id": handoff.id,
                        "conversation_id": handoff.conversation_id,
                        "customer_id": row.customer_id,
                        "customer_name": row.name,
                        "channel": row.channel,
                        "language": handoff.language or row.language,
                        "skill_group": handoff.skill_group,
                        "reason": handoff.reason,
                        "priority": handoff.priority,
                        "sentiment": ((parse or {}).get("sentiment") or {}).get("label"),
                        "tags": list(row.tags or ()),
                        "queued_at": queued_at.isoformat(),
                        "waiting_s": round((now - queued_at).total_seconds(), 1),
                        "status": handoff.status,
                        "assigned_to": row.username,
                    }
                )
            return out

        return await self.db.run(work)

    async def agent_may_see(self, agent: AgentRecord, customer_id: str) -> bool:
        """Whether an agent (not a supervisor) may see this customer: one of their chats is
        waiting in the agent's skill groups, or the agent holds or has held one."""

        def work(s: Session) -> bool:
            h = m.Handoff
            found = s.execute(
                select(h.id)
                .join(CONV, CONV.c.id == h.conversation_id)
                .where(
                    CONV.c.customer_id == customer_id,
                    or_(
                        h.assigned_to == agent.id,
                        and_(h.status == "queued", h.skill_group.in_(list(agent.skills))),
                    ),
                )
                .limit(1)
            ).first()
            return found is not None

        return await self.db.run(work)

    async def tickets_of(self, customer_id: str) -> list[TicketRecord]:
        def work(s: Session) -> list[TicketRecord]:
            rows = s.scalars(
                select(m.Ticket).where(m.Ticket.customer_id == customer_id).order_by(m.Ticket.id)
            )
            return [_ticket(s, r) for r in rows]

        return await self.db.run(work)

    async def web_messages(
        self, customer_id: str, channel: str, after_id: int = 0, limit: int = 500
    ) -> list[tuple[MessageRecord, str | None]]:
        """A customer's messages on one channel across their conversations, by id after
        `after_id` (a channel's resume cursor), each with the sending agent's display name."""

        def work(s: Session) -> list[tuple[MessageRecord, str | None]]:
            rows = s.execute(
                select(MSG, m.Agent.display_name)
                .join(CONV, CONV.c.id == MSG.c.conversation_id)
                .outerjoin(m.Agent, m.Agent.id == MSG.c.sender_id)
                .where(
                    CONV.c.customer_id == customer_id,
                    CONV.c.channel == channel,
                    MSG.c.id > after_id,
                )
                .order_by(MSG.c.id)
                .limit(limit)
            )
            return [(_message(r), r.display_name) for r in rows]

        return await self.db.run(work)

    # -- private notes ----------------------------------------------------------------------
    async def add_note(self, conversation_id: str, agent_id: str | None, text: str) -> NoteRecord:
        if not text.strip():
            raise InputError("the note is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"note over {MAX_TEXT_CHARS} characters")

        def work(s: Session) -> NoteRecord:
            if s.get(m.Conversation, conversation_id) is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            row = m.Note(conversation_id=conversation_id, agent_id=agent_id, text=text)
            s.add(row)
            s.commit()
            return _note(row)

        return await self.db.run(work)

    async def notes(self, conversation_id: str) -> list[NoteRecord]:
        def work(s: Session) -> list[NoteRecord]:
            rows = s.scalars(
                select(m.Note).where(m.Note.conversation_id == conversation_id).order_by(m.Note.id)
            )
            return [_note(r) for r in rows]

        return await self.db.run(work)

    # -- ratings ----------------------------------------------------------------------------
    async def rate(self, conversation_id: str, score: int, comment: str = "") -> RatingRecord:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InputError(f"rating {score!r}: a whole number from 1 to 5")
        if self.mask_transcripts:
            comment = mask_text(comment)

        def work(s: Session) -> RatingRecord:
            row = m.Rating(conversation_id=conversation_id, score=score, comment=comment[:2000])
            s.add(row)
            try:
                s.commit()
            except IntegrityError as exc:
                raise InputError("this conversation has been rated already") from exc
            return RatingRecord(
                conversation_id, score, row.comment, _utc(row.created_at) or row.created_at
            )

        return await self.db.run(work)


# -- statements shared by several operations (run inside a transaction) -------------------------
def _check_text(text: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"message text over {MAX_TEXT_CHARS} characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from JSON: no database stores it
        raise InputError("message text contains a lone UTF-16 surrogate") from exc


def _identity(
    s: Session,
    channel: str,
    external_id: str,
    *,
    name: str | None = None,
    language: str | None = None,
) -> tuple[CustomerRecord, str | None]:
    """The customer known as `external_id` on `channel` (created on first contact) and the id
    of their newest open conversation there, in one query."""
    open_conv = (
        select(CONV.c.id)
        .where(
            CONV.c.customer_id == CUST.c.id,
            CONV.c.channel == channel,
            CONV.c.status.in_(_OPEN),
        )
        .order_by(CONV.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    row = s.execute(
        _known_as(select(CUST, open_conv.label("open_conversation")), channel, external_id)
    ).first()
    if row is not None:
        return _customer(row), row.open_conversation
    customer_id, at = new_id(), clock.now()
    s.execute(
        insert(CUST).values(
            id=customer_id, name=name, language=language, tags=[], attributes={}, created_at=at
        )
    )
    s.execute(
        insert(IDENT).values(
            customer_id=customer_id, channel=channel, external_id=external_id, created_at=at
        )
    )  # a unique-key race with another process: the caller retries and finds theirs
    return CustomerRecord(customer_id, name, language, (), {}, at), None


def _enqueue_deliveries(
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


def _number_and_insert(
    s: Session,
    conversation_id: str,
    sender: str,
    text: str,
    payload: dict[str, Any],
    external_id: str | None,
    *,
    sender_id: str | None = None,
    parse: dict[str, Any] | None = None,
    kb_article: dict[str, Any] | None = None,
) -> tuple[ConversationRecord, MessageRecord]:
    """Take the conversation's next message number and store the message under it. The number
    comes from one UPDATE ... RETURNING, which the database serialises, so concurrent writers
    never share or skip one."""
    at = clock.now()
    conv = s.execute(
        update(CONV)
        .where(CONV.c.id == conversation_id)
        .values(last_seq=CONV.c.last_seq + 1, updated_at=at)
        .returning(*CONV.c)
    ).first()
    if conv is None:
        raise NotFoundError(f"no conversation {conversation_id!r}")
    kb = kb_article or {}
    message_id = s.execute(
        insert(MSG)
        .values(
            conversation_id=conversation_id,
            seq=conv.last_seq,
            sender=sender,
            sender_id=sender_id,
            text=text,
            payload=payload,
            parse=parse,
            kb_article_id=kb.get("id"),
            kb_article_version=kb.get("version"),
            external_id=external_id,
            created_at=at,
        )
        .returning(MSG.c.id)
    ).scalar_one()
    if sender != "customer" and conv.channel in PUSHED_CHANNELS and not payload.get("internal"):
        _enqueue_deliveries(s, conversation_id, [message_id], channel=conv.channel)
    message = MessageRecord(
        message_id,
        conversation_id,
        conv.last_seq,
        sender,
        sender_id,
        text,
        payload,
        parse,
        kb.get("id"),
        kb.get("version"),
        external_id,
        at,
    )
    return _conversation(conv), message


def _known_as(query: Select[Any], channel: str, external_id: str) -> Select[Any]:
    """`query` on customers, narrowed to the one known as `external_id` on `channel`."""
    return query.join(IDENT, IDENT.c.customer_id == CUST.c.id).where(
        IDENT.c.channel == channel, IDENT.c.external_id == external_id
    )


def _latest_conversation(s: Session, customer_id: str, channel: str) -> m.Conversation | None:
    return s.scalar(
        select(m.Conversation)
        .where(m.Conversation.customer_id == customer_id, m.Conversation.channel == channel)
        .order_by(m.Conversation.created_at.desc())
        .limit(1)
    )


def _ticket_row(s: Session, number: str) -> m.Ticket:
    row = s.scalar(select(m.Ticket).where(func.upper(m.Ticket.number) == number.strip().upper()))
    if row is None:
        raise NotFoundError(f"no ticket {number!r}")
    return row


def agent_row(s: Session, username: str) -> m.Agent:
    row = s.scalar(select(m.Agent).where(m.Agent.username == username))
    if row is None:
        raise NotFoundError(f"no agent {username!r}")
    return row


def _by_external(s: Session, conversation_id: str, external_id: str) -> Any:
    return s.execute(
        select(MSG).where(
            MSG.c.conversation_id == conversation_id, MSG.c.external_id == external_id
        )
    ).first()


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
        _utc(row.due_at),
        _utc(row.created_at) or row.created_at,
        _utc(row.updated_at) or row.updated_at,
        tuple(TicketEventRecord(e.status, e.note, e.actor, _utc(e.at) or e.at) for e in events),
    )


def _note(row: m.Note) -> NoteRecord:
    return NoteRecord(
        row.id, row.conversation_id, row.agent_id, row.text, _utc(row.created_at) or row.created_at
    )
