"""What happened in each conversation of a period, read from the stored events in a few queries:
the raw material of every metric. Nothing here decides what a number means (metrics.py does).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.store.engine import Database
from bot.store.tables import utc as _utc

SOCIAL = frozenset(
    {"greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "rate", "feedback_positive"}
)
UNKNOWN = frozenset({"out_of_scope", "nlu_fallback"})


@dataclass(frozen=True)
class HandoffFacts:
    reason: str
    skill_group: str
    queued_at: datetime
    assigned_at: datetime | None
    first_agent_reply_at: datetime | None
    resolved_at: datetime | None
    agent: str | None  # username
    status: str


@dataclass(frozen=True)
class Question:
    """A customer question the bot had no good answer for: the raw text of a knowledge gap."""

    text: str
    language: str
    intent: str
    at: datetime


@dataclass
class ConversationFacts:
    id: str
    customer_id: str
    channel: str
    language: str
    status: str
    created_at: datetime
    closed_at: datetime | None
    # The conversation row's last change: where the store closes an expired bot session.
    updated_at: datetime | None = None
    customer_name: str | None = None
    first_customer_at: datetime | None = None
    first_bot_at: datetime | None = None
    last_message_at: datetime | None = None
    intents: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)  # knowledge answers given
    gaps: list[Question] = field(default_factory=list)
    handoffs: list[HandoffFacts] = field(default_factory=list)
    rating: int | None = None
    rating_comment: str = ""
    rated_at: datetime | None = None

    @property
    def escalated(self) -> bool:
        return bool(self.handoffs)

    @property
    def topic(self) -> str | None:
        """What the customer came about: their most frequent non-social intent, else the
        knowledge category they were answered from."""
        problems = [(n, i) for i, n in self.intents.items() if i not in SOCIAL | UNKNOWN]
        if problems:
            return max(problems)[1]
        if self.categories:
            return self.categories.most_common(1)[0][0]
        return None

    @property
    def skill_group(self) -> str | None:
        return self.handoffs[-1].skill_group if self.handoffs else None

    @property
    def agent(self) -> str | None:
        agents = [h.agent for h in self.handoffs if h.agent]
        return agents[-1] if agents else None


async def read_facts(
    db: Database,
    start: datetime,
    end: datetime,
    *,
    lookahead: timedelta = timedelta(0),
    categories: dict[str, str] | None = None,
) -> list[ConversationFacts]:
    """Conversations created in [start, end + lookahead), with their events. `categories` maps
    knowledge article ids to their category (from the knowledge base). The lookahead brings in
    later conversations that first-contact resolution needs to see."""
    cats = categories or {}

    def work(s: Session) -> list[ConversationFacts]:
        C, M, H, R, A = m.Conversation, m.Message, m.Handoff, m.Rating, m.Agent
        rows = s.execute(
            select(
                C.id,
                C.customer_id,
                C.channel,
                C.language,
                C.status,
                C.created_at,
                C.closed_at,
                C.updated_at,
                m.Customer.name,
            )
            .join(m.Customer, m.Customer.id == C.customer_id)
            .where(C.created_at >= start, C.created_at < end + lookahead)
        ).all()
        facts = {
            r.id: ConversationFacts(
                r.id,
                r.customer_id,
                r.channel,
                r.language or "zh",
                r.status,
                _utc(r.created_at) or r.created_at,
                _utc(r.closed_at),
                _utc(r.updated_at),
                r.name,
            )
            for r in rows
        }
        if not facts:
            return []
        window = (C.created_at >= start) & (C.created_at < end + lookahead)
        names = dict(s.execute(select(A.id, A.username)).all())
        for h in s.execute(
            select(H).join(C, C.id == H.conversation_id).where(window).order_by(H.id)
        ).scalars():
            facts[h.conversation_id].handoffs.append(
                HandoffFacts(
                    h.reason,
                    h.skill_group,
                    _utc(h.queued_at) or h.queued_at,
                    _utc(h.assigned_at),
                    _utc(h.first_agent_reply_at),
                    _utc(h.resolved_at),
                    names.get(h.assigned_to) if h.assigned_to else None,
                    h.status,
                )
            )
        for r in s.execute(
            select(R.conversation_id, R.score, R.comment, R.created_at)
            .join(C, C.id == R.conversation_id)
            .where(window)
        ).all():
            facts[r.conversation_id].rating = r.score
            facts[r.conversation_id].rating_comment = r.comment or ""
            facts[r.conversation_id].rated_at = _utc(r.created_at)
        msgs = s.execute(
            select(M.conversation_id, M.sender, M.text, M.parse, M.kb_article_id, M.created_at)
            .join(C, C.id == M.conversation_id)
            .where(window, M.sender.in_(("customer", "bot")))
            .order_by(M.conversation_id, M.seq)
        ).all()
        for msg in msgs:
            f = facts[msg.conversation_id]
            at = _utc(msg.created_at) or msg.created_at
            f.last_message_at = at
            if msg.sender == "customer":
                f.first_customer_at = f.first_customer_at or at
                parse = msg.parse or {}
                intent = (parse.get("intent") or {}).get("name") or ""
                if intent:
                    f.intents[intent] += 1
                # A gap: a question (or something not understood) the bot could not answer.
                asks = intent.startswith("question_") or intent in UNKNOWN
                if asks and (parse.get("turn") or {}).get("failed"):
                    lang = parse.get("language") or f.language
                    f.gaps.append(Question(msg.text, lang, intent, at))
                continue
            if f.first_customer_at is not None and f.first_bot_at is None:
                f.first_bot_at = at
            if msg.kb_article_id:
                f.categories[cats.get(msg.kb_article_id, msg.kb_article_id.split("/")[0])] += 1
        return sorted(facts.values(), key=lambda f: f.created_at)

    return await db.run(work)


async def agent_names(db: Database) -> dict[str, str]:
    """Username -> display name of every agent (disabled ones too: the history keeps them), so
    the dashboard shows people as their colleagues know them and filters still key on the
    stable username."""

    def work(s: Session) -> dict[str, str]:
        A = m.Agent
        return {u: d or u for u, d in s.execute(select(A.username, A.display_name)).all()}

    return await db.run(work)
