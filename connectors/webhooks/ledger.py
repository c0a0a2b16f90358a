"""The webhooks' events and delivery ledger.

An event is written once under its key; in the same transaction it gets one delivery row per
endpoint that wants its type. A sender claims due rows with a conditional update that also sets
a lease (as bot/store/deliveries.py does for messages), so two instances never post one event to
one endpoint at the same time, and a sender that dies mid-post leaves a row that is due again
when its lease ends. A row ends `sent` (the receiver answered 2xx) or `failed` (the tries ran
out), with the receiver's last status and error kept for the operator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import clock
from bot.store import models as m
from bot.store.engine import Database
from bot.store.tables import utc

EV = cast(Table, m.WebhookEvent.__table__)
WD = cast(Table, m.WebhookDelivery.__table__)
CUR = cast(Table, m.WebhookCursor.__table__)


@dataclass(frozen=True)
class NewEvent:
    key: str  # unique: the same fact noticed twice is one event
    type: str
    occurred_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class DueWebhook:
    event_id: int
    endpoint: str
    type: str
    payload: dict[str, Any]
    occurred_at: datetime
    attempts: int  # including this one


@dataclass(frozen=True)
class WebhookState:
    event_id: int
    key: str
    type: str
    endpoint: str
    status: str
    attempts: int
    last_status: int | None
    error: str | None


class WebhookLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self, events: Sequence[NewEvent], endpoints_for: Callable[[str], list[str]]
    ) -> int:
        """Write the events not recorded yet, each with a pending delivery per endpoint that
        wants it; how many were new."""
        if not events:
            return 0

        def work(s: Session) -> int:
            keys = [e.key for e in events]
            known = set(s.execute(select(EV.c.key).where(EV.c.key.in_(keys))).scalars())
            fresh = [e for e in dict((e.key, e) for e in events).values() if e.key not in known]
            at = clock.now()
            for e in sorted(fresh, key=lambda e: e.occurred_at):
                event_id = s.execute(
                    insert(EV)
                    .values(
                        key=e.key,
                        type=e.type,
                        payload=e.payload,
                        occurred_at=e.occurred_at,
                        created_at=at,
                    )
                    .returning(EV.c.id)
                ).scalar_one()
                rows = [
                    {"event_id": event_id, "endpoint": name, "status": "pending", "due_at": at}
                    for name in endpoints_for(e.type)
                ]
                if rows:
                    s.execute(insert(WD).values(attempts=0), rows)
            s.commit()
            return len(fresh)

        try:
            return await self.db.run(work)
        except IntegrityError:  # another instance recorded one of them meanwhile: again
            return await self.db.run(work)

    async def claim_due(
        self, endpoints: Sequence[str], *, limit: int = 50, lease_s: float = 60.0
    ) -> list[DueWebhook]:
        """Due deliveries to the configured endpoints, oldest event first, each claimed for
        `lease_s`."""
        if not endpoints:
            return []

        def work(s: Session) -> list[DueWebhook]:
            now = clock.now()
            rows = s.execute(
                select(WD.c.event_id, WD.c.endpoint, WD.c.attempts, EV.c.type, EV.c.payload)
                .add_columns(EV.c.occurred_at)
                .join(EV, EV.c.id == WD.c.event_id)
                .where(
                    WD.c.status == "pending",
                    WD.c.due_at <= now,
                    WD.c.endpoint.in_(list(endpoints)),
                )
                .order_by(WD.c.event_id)
                .limit(limit)
            ).all()
            out = []
            for r in rows:
                claimed = s.execute(
                    update(WD)
                    .where(
                        WD.c.event_id == r.event_id,
                        WD.c.endpoint == r.endpoint,
                        WD.c.status == "pending",
                        WD.c.attempts == r.attempts,
                    )
                    .values(attempts=r.attempts + 1, due_at=now + timedelta(seconds=lease_s))
                ).rowcount  # type: ignore[attr-defined]
                if claimed:
                    out.append(
                        DueWebhook(
                            r.event_id,
                            r.endpoint,
                            r.type,
                            dict(r.payload or {}),
                            utc(r.occurred_at) or r.occurred_at,
                            r.attempts + 1,
                        )
                    )
            s.commit()
            return out

        return await self.db.run(work)

    async def sent(self, event_id: int, endpoint: str, status: int) -> None:
        now = clock.now()
        await self._set(
            event_id, endpoint, status="sent", last_status=status, error=None, sent_at=now
        )

    async def retry(
        self, event_id: int, endpoint: str, *, after_s: float, status: int | None, error: str
    ) -> None:
        at = clock.now() + timedelta(seconds=after_s)
        await self._set(event_id, endpoint, due_at=at, last_status=status, error=error[:2000])

    async def failed(self, event_id: int, endpoint: str, *, status: int | None, error: str) -> None:
        await self._set(event_id, endpoint, status="failed", last_status=status, error=error[:2000])

    async def _set(self, event_id: int, endpoint: str, **values: Any) -> None:
        def work(s: Session) -> None:
            s.execute(
                update(WD)
                .where(WD.c.event_id == event_id, WD.c.endpoint == endpoint)
                .values(**values)
            )
            s.commit()

        await self.db.run(work)

    async def cursor(self, source: str) -> datetime | None:
        def work(s: Session) -> datetime | None:
            value = s.execute(
                select(CUR.c.scanned_until).where(CUR.c.source == source)
            ).scalar_one_or_none()
            return utc(value)

        return await self.db.run(work)

    async def move_cursor(self, source: str, until: datetime) -> None:
        """Set the cursor forward (never back: another instance may be ahead)."""

        def work(s: Session) -> None:
            moved = s.execute(
                update(CUR)
                .where(CUR.c.source == source, CUR.c.scanned_until < until)
                .values(scanned_until=until)
            ).rowcount  # type: ignore[attr-defined]
            if (
                not moved
                and s.execute(
                    select(func.count()).select_from(CUR).where(CUR.c.source == source)
                ).scalar_one()
                == 0
            ):
                s.execute(insert(CUR).values(source=source, scanned_until=until))
            s.commit()

        with contextlib.suppress(IntegrityError):  # another instance created it first
            await self.db.run(work)

    async def states(self, limit: int = 200) -> list[WebhookState]:
        """The newest deliveries, for the operator (and the tests)."""

        def work(s: Session) -> list[WebhookState]:
            rows = s.execute(
                select(WD, EV.c.key, EV.c.type)
                .join(EV, EV.c.id == WD.c.event_id)
                .order_by(WD.c.event_id.desc())
                .limit(limit)
            ).all()
            return [
                WebhookState(
                    r.event_id,
                    r.key,
                    r.type,
                    r.endpoint,
                    r.status,
                    r.attempts,
                    r.last_status,
                    r.error,
                )
                for r in rows
            ]

        return await self.db.run(work)


async def redeliver(ledger: WebhookLedger, *, endpoint: str | None = None) -> int:
    """Failed deliveries (to `endpoint`, or to all) pending again with fresh tries, due now:
    after a receiver's outage outlasted the retries. How many."""

    def work(s: Session) -> int:
        where = [WD.c.status == "failed"]
        if endpoint is not None:
            where.append(WD.c.endpoint == endpoint)
        n = s.execute(
            update(WD)
            .where(*where)
            .values(status="pending", attempts=0, due_at=clock.now(), error=None)
        ).rowcount  # type: ignore[attr-defined]
        s.commit()
        return int(n)

    return await ledger.db.run(work)
