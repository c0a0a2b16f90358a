"""The tables. Messages are append-only and numbered per conversation (`seq`), so a channel
can ask for everything after the last number it saw and nothing is lost or reordered."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot import clock


def now() -> datetime:
    return clock.now()


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    # SQLAlchemy reads this class attribute as is.
    type_annotation_map = {  # noqa: RUF012
        dict[str, Any]: JSON,
        list[str]: JSON,
        datetime: DateTime(timezone=True),
    }


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    # high_value, complaint_sensitive, new_product_follower, ...
    tags: Mapped[list[str]] = mapped_column(default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)


class ChannelIdentity(Base):
    """How a customer is known on one channel (a Telegram chat id, a widget token, ...)."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=now)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_customer_status", "customer_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32))
    # bot | queued | assigned | resolved | closed
    status: Mapped[str] = mapped_column(String(16), default="bot")
    language: Mapped[str | None] = mapped_column(String(8))
    failed_turns: Mapped[int] = mapped_column(default=0)
    negative_streak: Mapped[int] = mapped_column(default=0)
    last_seq: Mapped[int] = mapped_column(default=0)  # the seq of the newest message
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)  # dialogue slots
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    closed_at: Mapped[datetime | None] = mapped_column()


_UNFINISHED = "sender = 'customer' AND parse IS NULL"


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_message_seq"),
        # A redelivered channel message (same external id) is stored once.
        UniqueConstraint("conversation_id", "external_id", name="uq_message_external"),
        CheckConstraint(
            "sender IN ('customer', 'bot', 'agent', 'system')", name="ck_message_sender"
        ),
        # Customer messages whose turn never finished (the process died between storing the
        # message and storing its outcome): few at any time, found by the recovery sweeper.
        Index(
            "ix_messages_unfinished",
            "created_at",
            postgresql_where=text(_UNFINISHED),
            sqlite_where=text(_UNFINISHED),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()
    sender: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # rich content: buttons, media
    # The NLU result of customer text, set when the turn ends; SQL NULL (not JSON null) until
    # then, so an unfinished turn can be found by the partial index above.
    parse: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    kb_article_id: Mapped[str | None] = mapped_column(String(200))
    kb_article_version: Mapped[int | None] = mapped_column()
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=now)
    # How often recovery has started this customer message's turn again (bot/dialogue/
    # recovery.py); counted before each try, so a message that kills its process ends too.
    turn_attempts: Mapped[int] = mapped_column(default=0, server_default="0")


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str | None] = mapped_column(String(16), unique=True)  # T-1001
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    conversation_id: Mapped[str | None] = mapped_column(ForeignKey("conversations.id"))
    subject: Mapped[str] = mapped_column(String(500), default="")
    # new | assigned | in_progress | waiting_customer | resolved | closed
    status: Mapped[str] = mapped_column(String(20), default="new")
    skill_group: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class TicketEvent(Base):
    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=now)


class Handoff(Base):
    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_status_queued", "status", "queued_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # explicit_request | failed_turns | complaint | negative_sentiment | ...
    reason: Mapped[str] = mapped_column(String(32))
    skill_group: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(default=0)
    language: Mapped[str | None] = mapped_column(String(8))
    # queued | assigned | resolved | returned | abandoned
    status: Mapped[str] = mapped_column(String(16), default="queued")
    queued_at: Mapped[datetime] = mapped_column(default=now)
    assigned_to: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    assigned_at: Mapped[datetime | None] = mapped_column()
    first_agent_reply_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    # The queue position the customer was last told, so a change is announced once.
    position_told: Mapped[int | None] = mapped_column()


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="agent")  # agent | supervisor | admin
    skills: Mapped[list[str]] = mapped_column(default=list)
    languages: Mapped[list[str]] = mapped_column(default=list)
    max_concurrent: Mapped[int] = mapped_column(default=3)
    status: Mapped[str] = mapped_column(String(16), default="offline")  # online | away | offline
    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(default=0)  # in a row; reset by a good login
    locked_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=now)


class AgentSession(Base):
    """A console login. The cookie holds a random token; only its SHA-256 is stored, so a
    copy of the database opens no sessions."""

    __tablename__ = "agent_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(token) hex
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime] = mapped_column()


class Note(Base):
    """An agent's private note on a conversation; never shown to the customer."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="ck_rating_score"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    score: Mapped[int] = mapped_column()
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=now)


class Delivery(Base):
    """An outbound message to a channel that is pushed to (Telegram, WeChat), written in the same
    transaction as the message, so nothing the bot or an agent says is ever left unsent without
    a trace: it ends `sent` or `failed` with the reason, which agents see."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "channel", "status", "due_at"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_delivery_status"),
    )

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # pending: when it may be tried next (a retry's backoff, or the hold while a passive reply
    # may still carry it); sent / failed: when that happened.
    due_at: Mapped[datetime] = mapped_column(default=now)
    attempts: Mapped[int] = mapped_column(default=0)
    # How it went out: "api" (a send call) or "passive" (in the webhook's answer).
    via: Mapped[str | None] = mapped_column(String(16))
    external_ref: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)


class DeliveryPart(Base):
    """One part of a long outbound message that went out as several (connectors/splitting.py):
    the ledger's record that this part reached the channel, so a retry after a partial success
    sends only the rest and the window counts every message the channel saw."""

    __tablename__ = "delivery_parts"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.message_id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # from 1
    parts: Mapped[int] = mapped_column()  # how many the message was split into
    external_ref: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime] = mapped_column(default=now)


class LinkCode(Base):
    """A one-time code that links a channel identity (a Telegram chat) to a known customer."""

    __tablename__ = "link_codes"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256(code) hex
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=now)


class Media(Base):
    """A file that came with a message or went out with one (bot/store/media.py). The bytes are
    in the media directory under their SHA-256; this row says what they are and whose."""

    __tablename__ = "media"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="ck_media_direction"),
        CheckConstraint(
            "kind IN ('image', 'file', 'voice', 'video', 'sticker')", name="ck_media_kind"
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str | None] = mapped_column(String(200))
    channel_file_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=now)
