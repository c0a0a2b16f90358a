"""The tables. Messages are append-only and numbered per conversation (`seq`), so a channel
can ask for everything after the last number it saw and nothing is lost or reordered."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
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
    __table_args__ = (Index("uq_customers_external_ref", "external_ref", unique=True),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    # Tags agents set (follows_new_products, ...); the computed ones are in auto_tags.
    tags: Mapped[list[str]] = mapped_column(default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)
    # The profile agents edit and imports fill (bot/store/profiles.py, migration 0012).
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(100))
    # The shop's own customer number, the key `relaydesk customers import` matches on.
    external_ref: Mapped[str | None] = mapped_column(String(64))
    customer_since: Mapped[datetime | None] = mapped_column()  # at the shop; else created_at
    # Computed from the data (bot/store/segments.py); NULL until the first run.
    lifecycle: Mapped[str | None] = mapped_column(String(16), index=True)
    value_segment: Mapped[str | None] = mapped_column(String(8), index=True)
    auto_tags: Mapped[list[str] | None] = mapped_column(JSON)
    yearly_spend_cents: Mapped[int | None] = mapped_column(BigInteger)
    segments_at: Mapped[datetime | None] = mapped_column()


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


class ReadMark(Base):
    """How far one side of a conversation has received and read the other side's messages
    (bot/store/read_marks.py, migration 0014): message ids, only ever moved forward."""

    __tablename__ = "read_marks"
    __table_args__ = (
        CheckConstraint("reader IN ('customer', 'agent')", name="ck_read_mark_reader"),
    )

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    reader: Mapped[str] = mapped_column(String(16), primary_key=True)  # customer | agent
    received_up_to: Mapped[int | None] = mapped_column()
    read_up_to: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=now)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_status_group", "status", "skill_group"),)

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
    # Worked in the console (migration 0009): who holds it, its tier, its SLA clocks.
    assigned_to: Mapped[str | None] = mapped_column(ForeignKey("agents.id"), index=True)
    tier: Mapped[int] = mapped_column(default=1, server_default="1")
    cross_department: Mapped[bool] = mapped_column(default=False, server_default=false())
    first_response_due_at: Mapped[datetime | None] = mapped_column()
    first_response_at: Mapped[datetime | None] = mapped_column()
    resolution_due_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column()


class TicketEvent(Base):
    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=now)
    # status | assigned | note (internal) | update (sent to the customer) | escalated | details
    # | follow_up (migration 0009)
    kind: Mapped[str] = mapped_column(String(16), default="status", server_default="status")
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))


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
    # Set by an administrator: no login, no chats; the history keeps the name (migration 0011).
    disabled_at: Mapped[datetime | None] = mapped_column()


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


class WebContext(Base):
    """Where a web customer last opened the widget: page, browser, verified host identity
    (bot/store/web_context.py, migration 0015). One row per customer, the latest hello's."""

    __tablename__ = "web_contexts"

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    page_url: Mapped[str | None] = mapped_column(String(500))
    page_title: Mapped[str | None] = mapped_column(String(500))
    referrer: Mapped[str | None] = mapped_column(String(500))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    browser: Mapped[str | None] = mapped_column(String(80))  # "Chrome 120 on Android"
    timezone: Mapped[str | None] = mapped_column(String(64))
    screen: Mapped[str | None] = mapped_column(String(32))
    identity: Mapped[str | None] = mapped_column(String(200))  # the host's verified user id
    language: Mapped[str | None] = mapped_column(String(8))
    seen_at: Mapped[datetime] = mapped_column(default=now)


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


class KnowledgeEvent(Base):
    """One step of a knowledge article's review (bot/store/knowledge_events.py): who contributed,
    edited, submitted, approved or rejected it, and why. The article's text lives in the
    Markdown files; this is the who-and-when the files cannot say, and what the dashboard's
    per-agent monthly counts are made of."""

    __tablename__ = "knowledge_events"
    __table_args__ = (
        CheckConstraint(
            "action IN ('contributed', 'revised', 'edited', 'submitted', 'approved', 'rejected',"
            " 'discarded')",
            name="ck_knowledge_event_action",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(64))  # kept when the agent is deleted
    # Who wrote the text an approval published: credited with "published" in the counts.
    author: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int | None] = mapped_column()
    title: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now, index=True)


# -- administration (migration 0011; bot/store/admin_settings.py, bot/store/audit.py) ----------
class AdminState(Base):
    """One row: the settings version every administration change bumps (instances poll it)
    and when config.yml and canned.yml seeded the tables."""

    __tablename__ = "admin_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(default=0)
    seeded_at: Mapped[datetime | None] = mapped_column()


class SkillGroupRow(Base):
    """A skill group as administered: what it takes, who it speaks to, when it is open."""

    __tablename__ = "skill_groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)  # routing checks groups in this order
    intents: Mapped[list[str]] = mapped_column(default=list)
    categories: Mapped[list[str]] = mapped_column(default=list)
    languages: Mapped[list[str]] = mapped_column(default=list)
    hours: Mapped[str] = mapped_column(String(11), default="00:00-24:00")
    display_name: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class Holiday(Base):
    """A day a group (or, with no group, every group) is closed or keeps special hours."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10), index=True)  # YYYY-MM-DD, the service's zone
    skill_group: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    hours: Mapped[str | None] = mapped_column(String(11))  # None: closed all day
    created_at: Mapped[datetime] = mapped_column(default=now)


class CannedResponse(Base):
    """A reviewed text agents pick in the console, per language."""

    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class AuditEntry(Base):
    """Who changed which setting or account, when, and from what to what."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=now, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # a username, or "cli:<user>"
    action: Mapped[str] = mapped_column(String(64))  # agent.add, group.update, canned.delete...
    target: Mapped[str] = mapped_column(String(200), index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ShopOrder(Base):
    """An order from the shop's own system, loaded by `relaydesk orders import`: the purchases
    the value segment and the lifecycle read (bot/store/shop_orders.py)."""

    __tablename__ = "shop_orders"
    __table_args__ = (Index("ix_shop_orders_customer_ordered", "customer_id", "ordered_at"),)

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    customer_ref: Mapped[str] = mapped_column(String(64), index=True)  # the shop's number
    items: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    ordered_at: Mapped[datetime] = mapped_column()
    courier: Mapped[str | None] = mapped_column(String(64))
    tracking: Mapped[str | None] = mapped_column(String(64))
    eta: Mapped[str | None] = mapped_column(String(32))
    imported_at: Mapped[datetime] = mapped_column(default=now)


class CustomerChange(Base):
    """Who changed what on a customer's profile, and when: an agent's edit, a tag, an import."""

    __tablename__ = "customer_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    actor: Mapped[str] = mapped_column(String(64))  # an agent's username, or "import"
    field: Mapped[str] = mapped_column(String(32))
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=now)


class SegmentRun(Base):
    """One computation of every customer's segments: when, the value bands' spend thresholds
    (so one customer can be re-segmented between runs) and how many fell in each segment."""

    __tablename__ = "segment_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=now)
    customers: Mapped[int] = mapped_column(default=0)
    high_min_cents: Mapped[int | None] = mapped_column(BigInteger)
    mid_min_cents: Mapped[int | None] = mapped_column(BigInteger)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TicketFollowUp(Base):
    """The follow-up after a ticket's resolution (solved? fast enough? suggestions?): when it is
    due, when it went out, and the customer's answers. The link's token is kept only hashed."""

    __tablename__ = "ticket_follow_ups"
    __table_args__ = (
        UniqueConstraint("ticket_id", name="uq_ticket_follow_ups_ticket"),
        UniqueConstraint("token_hash", name="uq_ticket_follow_ups_token"),
        Index("ix_ticket_follow_ups_due", "sent_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None] = mapped_column()
    solved: Mapped[bool | None] = mapped_column()
    fast_enough: Mapped[bool | None] = mapped_column()
    suggestions: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=now)


class TicketAlert(Base):
    """Something a person must know about a ticket (an escalation to tier 2, for the
    supervisors), once per person, ticket and kind, until they mark it read."""

    __tablename__ = "ticket_alerts"
    __table_args__ = (
        UniqueConstraint("agent_id", "ticket_id", "kind", name="uq_ticket_alerts_once"),
        Index("ix_ticket_alerts_agent", "agent_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)
    read_at: Mapped[datetime | None] = mapped_column()


class WebhookEvent(Base):
    """Something a shop's system may want to hear about (a conversation started, a handoff
    assigned, a ticket updated, a rating given), recorded once under its `key` whichever
    instance noticed it first (connectors/webhooks/feed.py)."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # handoff.assigned:42:<at>
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=now)


class WebhookDelivery(Base):
    """One event to one configured endpoint: the webhooks' delivery ledger, claimed with a
    lease like the messages' (bot/store/deliveries.py), retried with backoff until the receiver
    answers 2xx or the tries run out (`failed`, with the last error)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "due_at"),
        CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name="ck_webhook_delivery_status"
        ),
    )

    event_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), primary_key=True
    )
    endpoint: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime] = mapped_column(default=now)
    attempts: Mapped[int] = mapped_column(default=0)
    last_status: Mapped[int | None] = mapped_column()  # the receiver's last HTTP status
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()


class SearchCursor(Base):
    """How far the search indexer has read the messages (bot/store/conversation_search.py,
    migration 0016). The terms themselves live in `message_search`, an FTS5 table on SQLite
    and a tsvector table on PostgreSQL, which the migration creates per dialect."""

    __tablename__ = "search_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime | None] = mapped_column()


class WebhookCursor(Base):
    """How far the event feed has read the tables it watches."""

    __tablename__ = "webhook_cursors"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    scanned_until: Mapped[datetime] = mapped_column()


class CustomerEvent(Base):
    """Something the shop's systems (POST /api/events) or the widget (page dwell) said about a
    customer: stored once per (source, event id), so a replay is a duplicate, never a second
    row (bot/store/customer_events.py, migration 0017)."""

    __tablename__ = "customer_events"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_customer_events_source_event"),
        Index("ix_customer_events_customer", "customer_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(60))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=now)


_UNDELIVERED = "status = 'sent' AND delivered_at IS NULL"
_UNREPLIED = "status = 'sent' AND replied_at IS NULL"


class ProactiveMessage(Base):
    """The proactive ledger: one row per (rule, customer, trigger event), from `scheduled` to
    `sent`, `suppressed` or `cancelled` with the reason, then delivered / replied / converted
    (bot/store/proactive_ledger.py, migration 0017). Due rows are claimed with a lease."""

    __tablename__ = "proactive_messages"
    __table_args__ = (
        UniqueConstraint(
            "rule", "customer_id", "trigger_event_id", name="uq_proactive_messages_trigger"
        ),
        Index("ix_proactive_messages_due", "status", "due_at"),
        Index("ix_proactive_messages_customer_sent", "customer_id", "sent_at"),
        Index("ix_proactive_messages_decided", "decided_at"),
        Index("ix_proactive_messages_conversation", "conversation_id"),
        # The sent rows still waiting for delivery / a reply (the scheduler's follow-up).
        Index(
            "ix_proactive_messages_undelivered",
            "sent_at",
            "id",
            postgresql_where=text(_UNDELIVERED),
            sqlite_where=text(_UNDELIVERED),
        ),
        Index(
            "ix_proactive_messages_unreplied",
            "sent_at",
            "id",
            postgresql_where=text(_UNREPLIED),
            sqlite_where=text(_UNREPLIED),
        ),
        CheckConstraint(
            "status IN ('scheduled', 'sent', 'suppressed', 'cancelled')",
            name="ck_proactive_message_status",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(60))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    trigger_event_id: Mapped[int] = mapped_column(
        ForeignKey("customer_events.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    reason: Mapped[str | None] = mapped_column(String(24))
    due_at: Mapped[datetime] = mapped_column()
    lease_until: Mapped[datetime | None] = mapped_column()  # a claimer holds it until then
    attempts: Mapped[int] = mapped_column(default=0)  # claims so far
    deferrals: Mapped[int] = mapped_column(default=0)  # re-scheduled for quiet hours
    decided_at: Mapped[datetime | None] = mapped_column()  # when it became final
    sent_at: Mapped[datetime | None] = mapped_column()
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(16))
    delivered_at: Mapped[datetime | None] = mapped_column()
    replied_at: Mapped[datetime | None] = mapped_column()
    converted_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=now)


class ProactiveOptOut(Base):
    """A customer who asked for no proactive messages ("退订", "stop", the button), for good:
    the first opt-out is kept (channel and how), later ones change nothing."""

    __tablename__ = "proactive_opt_outs"

    customer_id: Mapped[str] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    how: Mapped[str] = mapped_column(String(24))  # keyword | button | agent | api
    at: Mapped[datetime] = mapped_column(default=now)


# What the webhook feed reads by time (connectors/webhooks/feed.py scans every few seconds):
# declared here, beside the feed's tables, so the watched tables' classes stay as they were.
FEED_INDEXES = (
    Index("ix_conversations_created_at", Conversation.created_at),
    Index("ix_conversations_closed_at", Conversation.closed_at),
    Index("ix_handoffs_assigned_at", Handoff.assigned_at),
    Index("ix_handoffs_resolved_at", Handoff.resolved_at),
    Index("ix_ticket_events_at", TicketEvent.at),
    Index("ix_ratings_created_at", Rating.created_at),
)
