"""Which events happened: a scan of the store's tables since the last scan.

Every event is a fact with a timestamp already in a table: a conversation's `created_at` and
`closed_at`, a handoff's `queued_at`, `assigned_at` and `resolved_at`, a ticket event's `at`, a
rating's `created_at`. Each scan reads the rows whose timestamp falls after the cursor minus an
overlap (a transaction that committed late, another instance's clock) and records them under a
key made of the fact (`handoff.assigned:42:<at>`): a fact seen twice is one event, so the
overlap costs a lookup, never a duplicate.

The first scan of a new installation starts at that moment: history is not replayed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, select
from sqlalchemy.orm import Session

from bot import clock
from bot.privacy import mask_text
from bot.store import models as m
from bot.store.engine import Database
from bot.store.tables import CONV, utc
from connectors.webhooks.ledger import NewEvent, WebhookLedger

HO = cast(Table, m.Handoff.__table__)
AG = cast(Table, m.Agent.__table__)
TK = cast(Table, m.Ticket.__table__)
TE = cast(Table, m.TicketEvent.__table__)
RT = cast(Table, m.Rating.__table__)
log = logging.getLogger(__name__)

CURSOR = "feed"
START = "feed-start"
OVERLAP = timedelta(minutes=5)
ENDED = ("resolved", "returned")  # handoff statuses told about (not "abandoned": no agent)
# A scan reads at most this many rows per table; more in one window is logged (and the rest are
# read when the next scans' windows no longer hold the first ones' timestamps).
MAX_PER_SCAN = 10_000
# Ticket event kinds whose note is for the customer or about the work (an internal note's
# text stays inside: the event says a note was added, not what it says).
PUBLIC_NOTES = frozenset({"status", "update", "escalated", "follow_up", "assigned", "details"})


def _iso(value: datetime | None) -> str | None:
    v = utc(value)
    return v.isoformat() if v is not None else None


class EventFeed:
    """Scans the tables and records the events for the endpoints that want them."""

    def __init__(
        self,
        db: Database,
        ledger: WebhookLedger,
        endpoints_for: Callable[[str], list[str]],
        *,
        mask: bool = False,
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.endpoints_for = endpoints_for
        self.mask = mask  # privacy.mask_transcripts: customers' words masked in payloads too

    async def scan(self) -> int:
        """Record what happened since the last scan; how many new events."""
        until = clock.now()
        start = await self.ledger.cursor(START)
        if start is None:  # a new installation: from now on
            await self.ledger.move_cursor(START, until)
            await self.ledger.move_cursor(CURSOR, until)
            return 0
        cursor = await self.ledger.cursor(CURSOR) or until
        since = max(start, cursor - OVERLAP)
        events = await self.db.run(lambda s: self._read(s, since, until))
        new = await self.ledger.record(events, self.endpoints_for)
        await self.ledger.move_cursor(CURSOR, until)
        return new

    def _read(self, s: Session, since: datetime, until: datetime) -> list[NewEvent]:
        out: list[NewEvent] = []
        for read in (self._conversations, self._handoffs, self._tickets, self._ratings):
            found = read(s, since, until)
            if len(found) >= MAX_PER_SCAN:
                log.warning("webhook feed: %s read %d rows in one scan", read.__name__, len(found))
            out += found
        return out

    def _text(self, text: str) -> str:
        return mask_text(text) if self.mask else text

    def _conversations(self, s: Session, since: datetime, until: datetime) -> list[NewEvent]:
        out = []
        rows = s.execute(
            select(CONV)
            .where(
                (CONV.c.created_at > since) & (CONV.c.created_at <= until)
                | (CONV.c.closed_at > since) & (CONV.c.closed_at <= until)
            )
            .limit(MAX_PER_SCAN)
        ).all()
        for r in rows:
            base = {
                "conversation_id": r.id,
                "customer_id": r.customer_id,
                "channel": r.channel,
                "language": r.language,
            }
            created, closed = utc(r.created_at), utc(r.closed_at)
            if created is not None and since < created <= until:
                out.append(
                    NewEvent(
                        f"conversation.started:{r.id}",
                        "conversation.started",
                        created,
                        {**base, "started_at": _iso(created)},
                    )
                )
            if closed is not None and since < closed <= until:
                out.append(
                    NewEvent(
                        f"conversation.closed:{r.id}:{closed.isoformat()}",
                        "conversation.closed",
                        closed,
                        {**base, "status": r.status, "closed_at": _iso(closed)},
                    )
                )
        return out

    def _handoffs(self, s: Session, since: datetime, until: datetime) -> list[NewEvent]:
        out = []

        def within(col: Any) -> Any:
            return and_(col > since, col <= until)

        rows = s.execute(
            select(HO, CONV.c.customer_id, CONV.c.channel, AG.c.username)
            .join(CONV, CONV.c.id == HO.c.conversation_id)
            .outerjoin(AG, AG.c.id == HO.c.assigned_to)
            .where(
                HO.c.status != "pending",
                within(HO.c.queued_at) | within(HO.c.assigned_at) | within(HO.c.resolved_at),
            )
            .limit(MAX_PER_SCAN)
        ).all()
        for r in rows:
            base = {
                "handoff_id": r.id,
                "conversation_id": r.conversation_id,
                "customer_id": r.customer_id,
                "channel": r.channel,
                "reason": r.reason,
                "skill_group": r.skill_group,
                "priority": r.priority,
                "language": r.language,
            }
            queued, assigned, ended = utc(r.queued_at), utc(r.assigned_at), utc(r.resolved_at)
            if queued is not None and since < queued <= until:
                out.append(
                    NewEvent(
                        f"handoff.requested:{r.id}",
                        "handoff.requested",
                        queued,
                        {**base, "queued_at": _iso(queued)},
                    )
                )
            if assigned is not None and since < assigned <= until:
                out.append(
                    NewEvent(
                        f"handoff.assigned:{r.id}:{assigned.isoformat()}",
                        "handoff.assigned",
                        assigned,
                        {**base, "agent": r.username, "assigned_at": _iso(assigned)},
                    )
                )
            if ended is not None and since < ended <= until and r.status in ENDED:
                kind = f"handoff.{r.status}"
                out.append(
                    NewEvent(
                        f"{kind}:{r.id}",
                        kind,
                        ended,
                        {**base, "agent": r.username, f"{r.status}_at": _iso(ended)},
                    )
                )
        return out

    def _tickets(self, s: Session, since: datetime, until: datetime) -> list[NewEvent]:
        out = []
        rows = s.execute(
            select(
                TE,
                TK.c.number,
                TK.c.customer_id,
                TK.c.conversation_id,
                TK.c.subject,
                TK.c.skill_group,
            )
            .join(TK, TK.c.id == TE.c.ticket_id)
            .where(TE.c.at > since, TE.c.at <= until)
            .order_by(TE.c.id)
            .limit(MAX_PER_SCAN)
        ).all()
        for r in rows:
            at = utc(r.at) or r.at
            created = r.kind == "status" and r.status == "new"
            kind = "ticket.created" if created else "ticket.updated"
            payload = {
                "ticket": r.number,
                "customer_id": r.customer_id,
                "conversation_id": r.conversation_id,
                "skill_group": r.skill_group,
                "status": r.status,
                "change": r.kind,
                "actor": r.actor,
                "at": _iso(at),
            }
            if created:
                payload["subject"] = self._text(r.subject or "")
            elif r.kind in PUBLIC_NOTES and r.note:
                payload["note"] = self._text(r.note)
            out.append(NewEvent(f"ticket:{r.id}", kind, at, payload))
        return out

    def _ratings(self, s: Session, since: datetime, until: datetime) -> list[NewEvent]:
        rows = s.execute(
            select(RT, CONV.c.customer_id, CONV.c.channel)
            .join(CONV, CONV.c.id == RT.c.conversation_id)
            .where(RT.c.created_at > since, RT.c.created_at <= until)
            .limit(MAX_PER_SCAN)
        ).all()
        out = []
        for r in rows:
            at = utc(r.created_at) or r.created_at
            out.append(
                NewEvent(
                    f"rating.submitted:{r.id}",
                    "rating.submitted",
                    at,
                    {
                        "conversation_id": r.conversation_id,
                        "customer_id": r.customer_id,
                        "channel": r.channel,
                        "score": r.score,
                        "comment": self._text(r.comment or ""),
                        "rated_at": _iso(at),
                    },
                )
            )
        return out
