"""Messages: the append-only transcript of each conversation, numbered per conversation (`seq`),
so a channel can ask for everything after the last number it saw and nothing is lost or
reordered.

A number comes from one UPDATE ... RETURNING on the conversation, which the database serialises,
so concurrent writers (threads or processes) never share or skip one. Every stored message is
announced on the message bus after its commit, so listening channels and consoles wake up.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.events import MessageBus, MessageEvent
from bot.privacy import mask_parse, mask_text
from bot.store import models as m
from bot.store.deliveries import enqueue
from bot.store.engine import Database, run_retrying
from bot.store.errors import NotFoundError
from bot.store.records import SENDERS, ConversationRecord, MessageRecord
from bot.store.settings import StoreSettings
from bot.store.tables import (
    CONV,
    MSG,
    PUSHED_CHANNELS,
    check_text,
    conversation_record,
    message_record,
)


class Messages(Protocol):
    """Storing and reading the transcript."""

    async def append(
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
        """Store a message with the conversation's next sequence number and announce it.

        A message whose `external_id` was stored before is not stored again: the earlier
        record comes back with `duplicate=True`. InputError for an unknown sender or text no
        database would keep; NotFoundError for an unknown conversation."""
        ...

    async def of(self, conversation_id: str, after_seq: int = 0) -> list[MessageRecord]:
        """A conversation's messages numbered after `after_seq`, in order."""
        ...

    async def of_customer(self, customer_id: str) -> list[MessageRecord]:
        """Every message of every conversation of a customer, across channels, in time order."""
        ...

    async def on_channel(
        self, customer_id: str, channel: str, after_id: int = 0, limit: int = 500
    ) -> list[tuple[MessageRecord, str | None]]:
        """A customer's messages on one channel across their conversations, by id after
        `after_id` (a channel's resume cursor), each with the sending agent's display name."""
        ...


class SqlMessages:
    """`Messages` over the store's database, announcing on `bus`."""

    def __init__(self, db: Database, bus: MessageBus, settings: StoreSettings) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings

    async def append(
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
        if sender not in SENDERS:
            raise InputError(f"sender {sender!r}; allowed: {', '.join(SENDERS)}")
        check_text(text)
        if sender == "customer" and self.settings.mask_transcripts:
            text = mask_text(text)
            parse = mask_parse(parse) if parse is not None else None

        def work(s: Session) -> MessageRecord:
            if external_id is not None:
                found = by_external(s, conversation_id, external_id)
                if found is not None:
                    return message_record(found, duplicate=True)
            _, message = number_and_insert(
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

        message = await run_retrying(self.db, work)
        await publish(self.bus, message)
        return message

    async def of(self, conversation_id: str, after_seq: int = 0) -> list[MessageRecord]:
        def work(s: Session) -> list[MessageRecord]:
            rows = s.execute(
                select(MSG)
                .where(MSG.c.conversation_id == conversation_id, MSG.c.seq > after_seq)
                .order_by(MSG.c.seq)
            )
            return [message_record(r) for r in rows]

        return await self.db.run(work)

    async def of_customer(self, customer_id: str) -> list[MessageRecord]:
        def work(s: Session) -> list[MessageRecord]:
            rows = s.execute(
                select(MSG)
                .join(CONV, CONV.c.id == MSG.c.conversation_id)
                .where(CONV.c.customer_id == customer_id)
                .order_by(MSG.c.created_at, MSG.c.id)
            )
            return [message_record(r) for r in rows]

        return await self.db.run(work)

    async def on_channel(
        self, customer_id: str, channel: str, after_id: int = 0, limit: int = 500
    ) -> list[tuple[MessageRecord, str | None]]:
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
            return [(message_record(r), r.display_name) for r in rows]

        return await self.db.run(work)


async def publish(bus: MessageBus, *messages: MessageRecord) -> None:
    """Tell the bus about messages just committed (never about a duplicate)."""
    for msg in messages:
        if not msg.duplicate:
            await bus.publish(MessageEvent(msg.conversation_id, msg.seq, msg.sender))


# -- statements other repositories run inside their own transaction ----------------------------
def number_and_insert(
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
        enqueue(s, conversation_id, [message_id], channel=conv.channel)
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
    return conversation_record(conv), message


def by_external(s: Session, conversation_id: str, external_id: str) -> Any:
    """The conversation's message stored under a channel's own id, if any (a redelivery)."""
    return s.execute(
        select(MSG).where(
            MSG.c.conversation_id == conversation_id, MSG.c.external_id == external_id
        )
    ).first()
