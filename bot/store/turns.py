"""A bot turn's storage: the customer's message stored before anything else happens
(`begin`), and the turn's outcome (the parse, the replies, the conversation's new state) in one
transaction at its end (`finish`); and the turns that never finished.

An unfinished turn is a customer message that `begin` stored but no `finish` ever answered,
because the process died in between (kill -9, out of memory, a lost machine) or the turn raised.
Such a message has no parse (SQL NULL, found through a partial index) and sits in a conversation
that is still open. Whoever finishes it holds the customer's turn lock and first counts the try
in the message (`turn_attempts`), before running anything: a message that kills its process
every time is still counted, and is handed to a person after the last try instead of forever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.events import MessageBus, MessageEvent
from bot.privacy import PHONE, mask_parse, mask_text
from bot.store import models as m
from bot.store.customers import find_or_create
from bot.store.deliveries import enqueue
from bot.store.engine import Database, run_retrying
from bot.store.errors import NotFoundError, TurnFinishedError
from bot.store.media import MediaFailure, NewMedia, media_ref
from bot.store.media import insert_rows as insert_media
from bot.store.messages import by_external, number_and_insert, publish
from bot.store.models import new_id
from bot.store.records import ConversationRecord, CustomerRecord, MessageRecord
from bot.store.settings import StoreSettings
from bot.store.tables import (
    CONV,
    CUST,
    IDENT,
    MSG,
    OPEN,
    check_text,
    conversation_record,
    customer_record,
    message_record,
    only,
    utc,
)


@dataclass(frozen=True)
class TurnStart:
    """What `begin` found or created, with the stored inbound message."""

    customer: CustomerRecord
    conversation: ConversationRecord  # as of just after the inbound message was numbered
    inbound: MessageRecord


class Turns(Protocol):
    """The two transactions of a bot turn."""

    async def begin(
        self,
        channel: str,
        sender: str,
        text: str,
        *,
        external_id: str | None = None,
        media: Sequence[NewMedia | MediaFailure] = (),
        shared: Mapping[str, Any] | None = None,
    ) -> TurnStart:
        """Store a customer's message before anything else happens, in one transaction: find
        (or create) the customer known as `sender` on `channel` and their open conversation,
        and number and store the message, with the rows of its files (`media`, prepared by
        the media store; a failure is kept as a note in the payload) and what the customer
        shared (`shared`: {"location": ...} or {"contact": ...}, kept in the payload; a
        contact's phone masked with `mask_transcripts`). A message whose
        `external_id` was stored before comes back with `duplicate=True` and is not stored
        again.

        With `mask_transcripts` the database gets the text masked, but the record returned
        keeps what the customer wrote: this turn's understanding needs it, nothing keeps it."""
        ...

    async def finish(
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
        ...


class SqlTurns:
    """`Turns` over the store's database, announcing on `bus`."""

    def __init__(self, db: Database, bus: MessageBus, settings: StoreSettings) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings

    async def begin(
        self,
        channel: str,
        sender: str,
        text: str,
        *,
        external_id: str | None = None,
        media: Sequence[NewMedia | MediaFailure] = (),
        shared: Mapping[str, Any] | None = None,
    ) -> TurnStart:
        check_text(text)
        payload = masked_shared(shared) if self.settings.mask_transcripts else dict(shared or {})
        if media:
            payload["media"] = [media_ref(item) for item in media]
        stored_text = mask_text(text) if self.settings.mask_transcripts else text

        expiry = self.settings.session_expiry

        def work(s: Session) -> TurnStart:
            customer, conv_id = find_or_create(s, channel, sender)
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
                found = by_external(s, conv_id, external_id)
                if found is not None:
                    row = s.execute(select(CONV).where(CONV.c.id == conv_id)).one()
                    s.commit()
                    return TurnStart(
                        customer, conversation_record(row), message_record(found, True)
                    )
            conv, message = number_and_insert(
                s, conv_id, "customer", stored_text, payload, external_id
            )
            insert_media(s, conv_id, message.id, "in", media)
            s.commit()
            return TurnStart(customer, conv, replace(message, text=text))

        # Published by finish, with its parse: a listener reads it complete.
        return await run_retrying(self.db, work)

    async def finish(
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
        only(
            "conversation",
            conversation,
            {"failed_turns", "negative_streak", "language", "state", "status"},
        )
        if self.settings.mask_transcripts:  # the parse repeats the text and its entities
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
                stored = _store_replies(s, conversation_id, replies, fields, hold_s)
            s.commit()
            return stored

        stored = await self.db.run(work)
        if inbound_seq is not None:
            await self.bus.publish(MessageEvent(conversation_id, inbound_seq, "customer"))
        await publish(self.bus, *stored)
        return stored


def _store_replies(
    s: Session,
    conversation_id: str,
    replies: list[dict[str, Any]],
    fields: dict[str, Any],
    hold_s: float,
) -> list[MessageRecord]:
    """Reserve the reply numbers and set the conversation's new state with one statement, then
    insert the replies under those numbers (and their deliveries, on a pushed channel)."""
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
    if not values:
        return []
    ids = s.execute(insert(MSG).returning(MSG.c.id), values).scalars().all()
    enqueue(s, conversation_id, list(ids), channel=channel, hold_s=hold_s)
    return [
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


@dataclass(frozen=True)
class UnfinishedTurn:
    """A customer message whose turn never finished, and whose locks to take to finish it."""

    message_id: int
    conversation_id: str
    channel: str
    senders: tuple[str, ...]  # how the customer is known on the channel: the turn-lock keys
    created_at: datetime


class UnfinishedTurns:
    """Finding unfinished turns and counting each try to finish one."""

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
                    CONV.c.status.in_(OPEN),
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
                    utc(r.created_at) or r.created_at,
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
            if row is None or conv is None or conv.status not in OPEN:
                s.rollback()
                return None
            customer = s.execute(select(CUST).where(CUST.c.id == conv.customer_id)).one()
            s.commit()
            start = TurnStart(
                customer_record(customer), conversation_record(conv), message_record(row)
            )
            return start, int(row.turn_attempts)

        return await self.db.run(work)


def masked_shared(shared: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the customer shared, as `mask_transcripts` stores it: a contact's phone number
    masked like one in the text (the name is kept, as names in the text are)."""
    out = dict(shared or {})
    contact = out.get("contact")
    if isinstance(contact, dict) and contact.get("phone"):
        out["contact"] = {**contact, "phone": PHONE}
    return out
