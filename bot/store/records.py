"""What the store hands out: plain frozen records, never live ORM objects, so nothing outside
the store can touch the database by accident or across an await."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SENDERS = ("customer", "bot", "agent", "system")
CONVERSATION_STATUSES = ("bot", "queued", "assigned", "resolved", "closed")
TICKET_STATUSES = ("new", "assigned", "in_progress", "waiting_customer", "resolved", "closed")


@dataclass(frozen=True)
class CustomerRecord:
    id: str
    name: str | None
    language: str | None
    tags: tuple[str, ...]  # set by agents
    attributes: dict[str, Any]
    created_at: datetime
    # The profile (bot/store/profiles.py) and the computed segments (bot/store/segments.py).
    email: str | None = None
    phone: str | None = None
    region: str | None = None
    external_ref: str | None = None  # the shop's customer number
    customer_since: datetime | None = None
    lifecycle: str | None = None  # new | active | steady | dormant | churned
    value_segment: str | None = None  # high | mid | low
    auto_tags: tuple[str, ...] = ()  # high_value, complaint_sensitive, ...
    yearly_spend_cents: int | None = None
    segments_at: datetime | None = None

    @property
    def all_tags(self) -> tuple[str, ...]:
        """Agents' tags and the computed ones, each once: what routing and the console read."""
        return tuple(dict.fromkeys((*self.tags, *self.auto_tags)))


@dataclass(frozen=True)
class ConversationRecord:
    id: str
    customer_id: str
    channel: str
    status: str
    language: str | None
    failed_turns: int
    negative_streak: int
    last_seq: int
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class MessageRecord:
    id: int
    conversation_id: str
    seq: int
    sender: str
    sender_id: str | None
    text: str
    payload: dict[str, Any]
    parse: dict[str, Any] | None
    kb_article_id: str | None
    kb_article_version: int | None
    external_id: str | None
    created_at: datetime
    duplicate: bool = False  # True when this external id had been stored before


@dataclass(frozen=True)
class TicketEventRecord:
    status: str
    note: str
    actor: str | None
    at: datetime
    # status | assigned | note (internal) | update (sent to the customer) | escalated | details
    # | follow_up; `message_id` is the customer's message an update became.
    kind: str = "status"
    message_id: int | None = None


@dataclass(frozen=True)
class TicketRecord:
    id: int
    number: str
    customer_id: str
    conversation_id: str | None
    subject: str
    status: str
    skill_group: str | None
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    history: tuple[TicketEventRecord, ...] = field(default=())
    # Worked in the console (handoff/tickets): who holds it (agent id), its tier, its SLA clocks.
    assigned_to: str | None = None
    tier: int = 1
    cross_department: bool = False
    first_response_due_at: datetime | None = None
    first_response_at: datetime | None = None
    resolution_due_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    escalated_at: datetime | None = None


@dataclass(frozen=True)
class HandoffRecord:
    id: int
    conversation_id: str
    reason: str
    skill_group: str
    priority: int
    language: str | None
    status: str
    queued_at: datetime
    assigned_to: str | None
    assigned_at: datetime | None
    first_agent_reply_at: datetime | None
    resolved_at: datetime | None
    position_told: int | None = None


@dataclass(frozen=True)
class AgentRecord:
    id: str
    username: str
    display_name: str
    role: str
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    max_concurrent: int
    status: str
    disabled: bool = False  # by an administrator: no login, no chats


@dataclass(frozen=True)
class NoteRecord:
    id: int
    conversation_id: str
    agent_id: str | None
    text: str
    created_at: datetime


@dataclass(frozen=True)
class RatingRecord:
    conversation_id: str
    score: int
    comment: str
    created_at: datetime
