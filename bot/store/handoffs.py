"""The queue: conversations handed from the bot to a person, waiting for an agent or held by one.

Assignment must hold across processes: a handoff goes to exactly one agent, and never takes an
agent past their limit of concurrent chats. Both are single conditional statements that the
database serialises (with the agent's row locked on PostgreSQL), not checks in Python.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.store import models as m
from bot.store.engine import Database
from bot.store.errors import NotFoundError
from bot.store.records import AgentRecord, HandoffRecord
from bot.store.tables import CONV, CUST, MSG, handoff_record, only, utc

UPDATABLE = {
    "status",
    "assigned_to",
    "assigned_at",
    "first_agent_reply_at",
    "resolved_at",
    "skill_group",
    "priority",
}


class Handoffs(Protocol):
    """Queueing conversations for people, handing them out, and the queue as people see it."""

    async def queue(
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
        answering: nobody sees or claims it until the turn's `finish` stores the reply that tells
        the customer, in the same transaction, so no agent's "joined" or queue update can be
        numbered before that reply. Only an agent assigned automatically may take it earlier."""
        ...

    async def assign(self, handoff_id: int, agent_id: str) -> bool:
        """Give a queued handoff to an agent, atomically: it succeeds for exactly one caller,
        and never takes an agent past their maximum of concurrent chats."""
        ...

    async def get(self, handoff_id: int) -> HandoffRecord:
        """The handoff; NotFoundError if there is none."""
        ...

    async def active(self, conversation_id: str) -> HandoffRecord | None:
        """The conversation's handoff that is still queued or assigned, if any."""
        ...

    async def update(self, handoff_id: int, **fields: Any) -> None:
        """Set status, assignment, reply and resolution times, skill group or priority."""
        ...

    async def tell_position(self, handoff_id: int, position: int) -> bool:
        """Record that the customer was told `position`; False when they were told it already
        or the handoff left the queue, so concurrent announcers (threads or processes) never
        send the same update twice."""
        ...

    async def queued(self) -> list[HandoffRecord]:
        """Waiting handoffs, highest priority first, then first in, first out."""
        ...

    async def views(
        self, *, statuses: tuple[str, ...] = ("queued",), assigned_to: str | None = None
    ) -> list[dict[str, Any]]:
        """The queue (or one agent's chats) as the console lists it: each handoff with its
        customer, channel and the sentiment of the customer's latest message, in service order."""
        ...

    async def agent_may_see(self, agent: AgentRecord, customer_id: str) -> bool:
        """Whether an agent (not a supervisor) may see this customer: one of their chats is
        waiting in the agent's skill groups, or the agent holds or has held one."""
        ...

    async def agent_loads(self) -> dict[str, int]:
        """Conversations each agent currently holds, by agent id."""
        ...

    async def transfer_to_agent(self, handoff_id: int, agent_id: str) -> HandoffRecord | None:
        """Hand an active handoff to a named agent, atomically: the old one is closed as
        "returned" and a new "transfer" handoff assigned to the agent, only if the agent is
        online, enabled and below their maximum of chats; None (nothing changed) otherwise."""
        ...


class SqlHandoffs:
    """`Handoffs` over the store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def queue(
        self,
        conversation_id: str,
        reason: str,
        skill_group: str,
        *,
        priority: int = 0,
        language: str | None = None,
        pending: bool = False,
    ) -> HandoffRecord:
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
            return handoff_record(row)

        return await self.db.run(work)

    async def assign(self, handoff_id: int, agent_id: str) -> bool:
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

    async def get(self, handoff_id: int) -> HandoffRecord:
        def work(s: Session) -> HandoffRecord:
            row = s.get(m.Handoff, handoff_id)
            if row is None:
                raise NotFoundError(f"no handoff {handoff_id}")
            return handoff_record(row)

        return await self.db.run(work)

    async def active(self, conversation_id: str) -> HandoffRecord | None:
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
            return handoff_record(row) if row else None

        return await self.db.run(work)

    async def update(self, handoff_id: int, **fields: Any) -> None:
        only("handoff", fields, UPDATABLE)

        def work(s: Session) -> None:
            s.execute(update(m.Handoff).where(m.Handoff.id == handoff_id).values(**fields))
            s.commit()

        await self.db.run(work)

    async def tell_position(self, handoff_id: int, position: int) -> bool:
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

    async def queued(self) -> list[HandoffRecord]:
        def work(s: Session) -> list[HandoffRecord]:
            rows = s.scalars(
                select(m.Handoff)
                .where(m.Handoff.status == "queued")
                .order_by(m.Handoff.priority.desc(), m.Handoff.queued_at, m.Handoff.id)
            )
            return [handoff_record(r) for r in rows]

        return await self.db.run(work)

    async def views(
        self, *, statuses: tuple[str, ...] = ("queued",), assigned_to: str | None = None
    ) -> list[dict[str, Any]]:
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
                select(
                    h,
                    CONV.c.channel,
                    CONV.c.customer_id,
                    CUST,
                    a.username,
                    a.display_name.label("assigned_to_name"),
                    latest_parse,
                )
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
            rows = s.execute(q).all()
            previews = _last_messages(s, [row[0].conversation_id for row in rows])
            for row in rows:
                handoff = row[0]
                parse = row[-1]
                if isinstance(parse, str):  # a JSON scalar subquery comes back as text
                    parse = json.loads(parse)
                queued_at = utc(handoff.queued_at) or now
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
                        # computed from the data (bot/store/segments.py)
                        "auto_tags": list(row.auto_tags or ()),
                        "lifecycle": row.lifecycle,
                        "value_segment": row.value_segment,
                        "queued_at": queued_at.isoformat(),
                        "waiting_s": round((now - queued_at).total_seconds(), 1),
                        "status": handoff.status,
                        "assigned_to": row.username,
                        "assigned_to_name": row.assigned_to_name,
                        "last_message": previews.get(handoff.conversation_id),
                    }
                )
            return out

        return await self.db.run(work)

    async def agent_may_see(self, agent: AgentRecord, customer_id: str) -> bool:
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

    async def transfer_to_agent(self, handoff_id: int, agent_id: str) -> HandoffRecord | None:
        def work(s: Session) -> HandoffRecord | None:
            # The agent's row locked, as in `assign`: two transfers to one agent are counted
            # one after the other.
            agent = s.get(m.Agent, agent_id, with_for_update=True)
            if agent is None:
                raise NotFoundError(f"no agent {agent_id!r}")
            load = s.scalar(
                select(func.count(m.Handoff.id)).where(
                    m.Handoff.assigned_to == agent_id, m.Handoff.status == "assigned"
                )
            )
            if (
                agent.disabled_at is not None
                or agent.status != "online"
                or (load or 0) >= agent.max_concurrent
            ):
                return None
            now = clock.now()
            old = s.execute(
                update(m.Handoff)
                .where(m.Handoff.id == handoff_id, m.Handoff.status.in_(("queued", "assigned")))
                .values(status="returned", resolved_at=now)
                .returning(m.Handoff)
            ).scalar()
            if old is None:  # resolved or transferred meanwhile
                s.rollback()
                return None
            row = m.Handoff(
                conversation_id=old.conversation_id,
                reason="transfer",
                skill_group=old.skill_group,
                priority=old.priority,
                language=old.language,
                status="assigned",
                assigned_to=agent_id,
                assigned_at=now,
            )
            s.add(row)
            s.execute(
                update(CONV)
                .where(CONV.c.id == old.conversation_id)
                .values(status="assigned", updated_at=now)
            )
            s.commit()
            return handoff_record(row)

        return await self.db.run(work)

    async def agent_loads(self) -> dict[str, int]:
        def work(s: Session) -> dict[str, int]:
            rows = s.execute(
                select(m.Handoff.assigned_to, func.count(m.Handoff.id))
                .where(m.Handoff.status == "assigned")
                .group_by(m.Handoff.assigned_to)
            )
            return {str(agent): int(n) for agent, n in rows.all() if agent is not None}

        return await self.db.run(work)


PREVIEW_CHARS = 120


def _last_messages(s: Session, conversation_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each conversation's newest message from a person or the bot (not the queue notices),
    as a preview for the queue: one query for the whole list."""
    if not conversation_ids:
        return {}
    newest = (
        select(MSG.c.conversation_id, func.max(MSG.c.seq).label("seq"))
        .where(MSG.c.conversation_id.in_(set(conversation_ids)), MSG.c.sender != "system")
        .group_by(MSG.c.conversation_id)
        .subquery()
    )
    rows = s.execute(
        select(MSG.c.conversation_id, MSG.c.sender, MSG.c.text, MSG.c.created_at).join(
            newest,
            and_(MSG.c.conversation_id == newest.c.conversation_id, MSG.c.seq == newest.c.seq),
        )
    )
    return {
        r.conversation_id: {
            "sender": r.sender,
            "text": _clip(r.text or "", PREVIEW_CHARS),
            "at": (utc(r.created_at) or clock.now()).isoformat(),
        }
        for r in rows
    }


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())  # one line in the list
    return text if len(text) <= limit else text[: limit - 1] + "…"
