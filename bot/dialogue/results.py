"""What one customer turn produced, as the channels, the metrics and the benches read it.

`TurnResult` is the engine's answer to every message (bot/dialogue/engine.py); `HandoffInfo`
says where the conversation went when the bot handed it over (bot/dialogue/handover.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.policy import Decision
from bot.dialogue.responses import OutboundMessage
from bot.nlu.types import Sentiment
from bot.store.turns import TurnStart


@dataclass(frozen=True)
class HandoffInfo:
    reason: str
    skill_group: str
    position: int | None
    ticket: str | None = None
    assigned_to: str | None = None  # the agent's username, when auto-assigned
    due: str | None = None  # when the ticket promises a reply, "MM-DD HH:MM" local time

    @property
    def status(self) -> str:
        """The conversation's status after it: with a ticket the bot keeps the chat."""
        return "bot" if self.ticket else "assigned" if self.assigned_to else "queued"

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "skill_group": self.skill_group,
            "position": self.position,
            "ticket": self.ticket,
            "assigned_to": self.assigned_to,
            "due": self.due,
        }


@dataclass(frozen=True)
class TurnResult:
    conversation_id: str
    customer_id: str
    replies: tuple[OutboundMessage, ...]
    status: str  # bot | queued | assigned | resolved
    failed_turns: int
    intent: str
    sentiment: Sentiment
    language: str
    handoff: HandoffInfo | None = None
    kb_article: dict[str, Any] | None = None
    duplicate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    seqs: tuple[int, ...] = ()  # the stored replies' sequence numbers, one per reply
    failed: bool = False  # the turn counts toward the failed turns that bring in a person
    empathetic: bool = False  # the reply opened with an apology

    def custom(self) -> dict[str, Any]:
        """The state an integrator sees on every reply (Rasa's `custom` payload)."""
        return {
            "status": self.status,
            "failed_turns": self.failed_turns,
            "handoff": self.handoff.to_dict() if self.handoff else None,
            "intent": self.intent,
            "sentiment": self.sentiment.to_dict(),
            "kb_article": self.kb_article,
            "conversation_id": self.conversation_id,
        }


def turn_record(decision: Decision) -> dict[str, Any]:
    """Kept with the customer's message: whether the bot managed (the analytics read gaps from
    it), and which articles it offered when it asked back."""
    record: dict[str, Any] = {"failed": decision.failed}
    if decision.kb_choices:
        record["kb_choices"] = list(decision.kb_choices)
    return record


def duplicate_result(start: TurnStart) -> TurnResult:
    """A message seen before, already answered: nothing new to say."""
    inbound, conv = start.inbound, start.conversation
    return TurnResult(
        conv.id,
        start.customer.id,
        (),
        conv.status,
        conv.failed_turns,
        (inbound.parse or {}).get("intent", {}).get("name", ""),
        Sentiment("neutral", 0.0, None),
        conv.language or "zh",
        duplicate=True,
    )
