"""The tables as the repositories' statements use them, and the one place a row becomes a record.

The hot path (a bot turn) uses the tables directly: Core statements cost a fraction of the ORM's.
Every repository converts rows with the functions here, so a record looks the same whichever
repository (or back end: SQLite hands back naive datetimes) produced it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.store import models as m
from bot.store.records import (
    AgentRecord,
    ConversationRecord,
    CustomerRecord,
    HandoffRecord,
    MessageRecord,
    NoteRecord,
)

CUST = cast(Table, m.Customer.__table__)
IDENT = cast(Table, m.ChannelIdentity.__table__)
CONV = cast(Table, m.Conversation.__table__)
MSG = cast(Table, m.Message.__table__)
DLV = cast(Table, m.Delivery.__table__)
DLP = cast(Table, m.DeliveryPart.__table__)

# Conversations still in progress: the bot holds them, or they wait for or have an agent.
OPEN = ("bot", "queued", "assigned")
# Channels whose outbound messages are pushed by a worker (connectors/outbox.py) rather than
# read by the customer's client: each such message gets a delivery row in its own transaction.
PUSHED_CHANNELS = frozenset({"telegram", "wechat"})
MAX_TEXT_CHARS = 20_000


def only(kind: str, fields: dict[str, Any], allowed: set[str]) -> None:
    """Refuse fields a caller may not set, naming them."""
    unknown = set(fields) - allowed
    if unknown:
        raise InputError(f"unknown {kind} field(s): {', '.join(sorted(unknown))}")


def check_text(text: str) -> None:
    """Refuse message text no database would store whole."""
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"message text over {MAX_TEXT_CHARS} characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from JSON: no database stores it
        raise InputError("message text contains a lone UTF-16 surrogate") from exc


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything leaving the store is timezone-aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def upsert(s: Session, table: Table) -> Any:
    """An INSERT into `table` in the session's database's dialect, so it takes ON CONFLICT."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {dialect}")  # pragma: no cover


def customer_record(row: Any) -> CustomerRecord:
    return CustomerRecord(
        row.id,
        row.name,
        row.language,
        tuple(row.tags or ()),
        dict(row.attributes or {}),
        utc(row.created_at) or row.created_at,
        email=row.email,
        phone=row.phone,
        region=row.region,
        external_ref=row.external_ref,
        customer_since=utc(row.customer_since),
        lifecycle=row.lifecycle,
        value_segment=row.value_segment,
        auto_tags=tuple(row.auto_tags or ()),
        yearly_spend_cents=row.yearly_spend_cents,
        segments_at=utc(row.segments_at),
    )


def conversation_record(row: Any) -> ConversationRecord:
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
        utc(row.created_at) or row.created_at,
        utc(row.updated_at) or row.updated_at,
        utc(row.closed_at),
    )


def message_record(row: Any, duplicate: bool = False) -> MessageRecord:
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
        utc(row.created_at) or row.created_at,
        duplicate,
    )


def handoff_record(row: m.Handoff) -> HandoffRecord:
    return HandoffRecord(
        row.id,
        row.conversation_id,
        row.reason,
        row.skill_group,
        row.priority,
        row.language,
        row.status,
        utc(row.queued_at) or row.queued_at,
        row.assigned_to,
        utc(row.assigned_at),
        utc(row.first_agent_reply_at),
        utc(row.resolved_at),
        row.position_told,
    )


def agent_record(row: m.Agent) -> AgentRecord:
    return AgentRecord(
        row.id,
        row.username,
        row.display_name,
        row.role,
        tuple(row.skills or ()),
        tuple(row.languages or ()),
        row.max_concurrent,
        row.status,
        row.disabled_at is not None,
    )


def note_record(row: m.Note) -> NoteRecord:
    return NoteRecord(
        row.id, row.conversation_id, row.agent_id, row.text, utc(row.created_at) or row.created_at
    )
