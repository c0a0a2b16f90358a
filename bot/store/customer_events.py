"""What the shop's systems (`POST /api/events`) and the widget (page dwell) say about a customer:
a cart abandoned, a payment failed, a parcel delayed or delivered, an order paid, any custom type.

Events are stored once per (source, event id): the insert does nothing when the pair exists
(`ON CONFLICT DO NOTHING`, on SQLite and PostgreSQL alike), so a shop replaying its feed, or two
instances receiving the same retry, leave one row and the replay is answered as a duplicate.
The proactive scheduler reads them in id order after its cursor (`after`); the console shows a
customer's newest on their profile (`of_customer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, exists, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.store import models as m
from bot.store.engine import Database, run_retrying
from bot.store.errors import NotFoundError
from bot.store.models import new_id
from bot.store.tables import CUST, IDENT, utc

EVT = cast(Table, m.CustomerEvent.__table__)

# Column widths (migration 0017); longer values are refused, naming the field.
MAX_SOURCE = 40
MAX_EVENT_ID = 100
MAX_TYPE = 60
# The channel identity the host site's signed-in users are known by (connectors/web/identity.py
# USER_CHANNEL: the store may not import a connector, so the name is repeated here).
SHOP_USER_CHANNEL = "web_user"


@dataclass(frozen=True)
class CustomerEvent:
    """One stored event. `id` orders events as they were received (the scheduler's cursor);
    `occurred_at` is when the source says it happened."""

    id: int
    source: str
    event_id: str
    type: str
    customer_id: str
    data: dict[str, Any]
    occurred_at: datetime
    received_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "event_id": self.event_id,
            "type": self.type,
            "customer_id": self.customer_id,
            "data": self.data,
            "occurred_at": self.occurred_at.isoformat(),
            "received_at": self.received_at.isoformat(),
        }


@dataclass(frozen=True)
class NewEvent:
    """An event to record (`record_many`)."""

    source: str
    event_id: str
    type: str
    customer_id: str
    data: dict[str, Any]
    occurred_at: datetime


def event_record(row: Any) -> CustomerEvent:
    return CustomerEvent(
        row.id,
        row.source,
        row.event_id,
        row.type,
        row.customer_id,
        dict(row.data or {}),
        utc(row.occurred_at) or row.occurred_at,
        utc(row.received_at) or row.received_at,
    )


def _check(e: NewEvent) -> None:
    for name, value, width in (
        ("source", e.source, MAX_SOURCE),
        ("id", e.event_id, MAX_EVENT_ID),
        ("type", e.type, MAX_TYPE),
    ):
        if not value:
            raise InputError(f"event {name} is empty")
        if len(value) > width:
            raise InputError(f"event {name} is over {width} characters")
    if e.occurred_at.tzinfo is None:
        raise InputError("event occurred_at has no time zone")


def _insert_ignoring_duplicates(s: Session, values: dict[str, Any]) -> int | None:
    """Insert one event; its new id, or None when (source, event id) is already stored."""
    dialect = s.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(EVT).values(**values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(EVT).values(**values)
    else:  # pragma: no cover - only the two back ends are supported
        raise RuntimeError(f"unsupported database {dialect}")
    stmt = stmt.on_conflict_do_nothing(index_elements=["source", "event_id"]).returning(EVT.c.id)
    new = s.execute(stmt).scalar_one_or_none()
    return int(new) if new is not None else None


class CustomerEvents:
    """`store.customer_events`: record events idempotently, read them per customer and in order."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        source: str,
        event_id: str,
        type: str,
        customer_id: str,
        data: dict[str, Any],
        occurred_at: datetime,
    ) -> tuple[CustomerEvent, bool]:
        """Store the event once; (the stored event, True) the first time, (the event as first
        stored, False) for a replay of the same (source, event id)."""
        [out] = await self.record_many(
            [NewEvent(source, event_id, type, customer_id, data, occurred_at)]
        )
        return out

    async def record_many(self, events: Sequence[NewEvent]) -> list[tuple[CustomerEvent, bool]]:
        """`record` for a batch, in one transaction; the results in the batch's order. An event
        repeated within the batch is new once and a duplicate after."""
        for e in events:
            _check(e)

        def work(s: Session) -> list[tuple[CustomerEvent, bool]]:
            at = clock.now()
            out: list[tuple[CustomerEvent, bool]] = []
            for e in events:
                values = {
                    "source": e.source,
                    "event_id": e.event_id,
                    "type": e.type,
                    "customer_id": e.customer_id,
                    "data": e.data,
                    "occurred_at": e.occurred_at,
                    "received_at": at,
                }
                new_id_ = _insert_ignoring_duplicates(s, values)
                if new_id_ is not None:
                    stored = CustomerEvent(
                        new_id_,
                        e.source,
                        e.event_id,
                        e.type,
                        e.customer_id,
                        e.data,
                        e.occurred_at,
                        at,
                    )
                    out.append((stored, True))
                    continue
                row = s.execute(
                    select(EVT).where(EVT.c.source == e.source, EVT.c.event_id == e.event_id)
                ).one()
                out.append((event_record(row), False))
            s.commit()
            return out

        return await self.db.run(work)

    async def get(self, id: int) -> CustomerEvent | None:
        def work(s: Session) -> CustomerEvent | None:
            row = s.execute(select(EVT).where(EVT.c.id == id)).first()
            return event_record(row) if row is not None else None

        return await self.db.run(work)

    async def of_customer(self, customer_id: str, limit: int = 50) -> list[CustomerEvent]:
        """The customer's events, newest (by when they happened) first."""

        def work(s: Session) -> list[CustomerEvent]:
            rows = s.execute(
                select(EVT)
                .where(EVT.c.customer_id == customer_id)
                .order_by(EVT.c.occurred_at.desc(), EVT.c.id.desc())
                .limit(limit)
            )
            return [event_record(r) for r in rows]

        return await self.db.run(work)

    async def after(self, event_id: int, limit: int) -> list[CustomerEvent]:
        """Events received after the one with id `event_id` (0: from the first), in id order:
        the scheduler's cursor."""

        def work(s: Session) -> list[CustomerEvent]:
            rows = s.execute(select(EVT).where(EVT.c.id > event_id).order_by(EVT.c.id).limit(limit))
            return [event_record(r) for r in rows]

        return await self.db.run(work)

    async def last_id(self) -> int:
        """The newest event's id (0 when there is none): where a new cursor may start."""

        def work(s: Session) -> int:
            return int(s.execute(select(func.coalesce(func.max(EVT.c.id), 0))).scalar_one())

        return await self.db.run(work)

    async def any_after(self, customer_id: str, types: Sequence[str], since: datetime) -> bool:
        """Whether the customer has an event of one of `types` that occurred after `since`
        (an `order_paid` after the cart reminder's trigger cancels the reminder)."""
        if not types:
            return False

        def work(s: Session) -> bool:
            return bool(
                s.execute(
                    select(
                        exists().where(
                            EVT.c.customer_id == customer_id,
                            EVT.c.type.in_(list(types)),
                            EVT.c.occurred_at > since,
                        )
                    )
                ).scalar()
            )

        return await self.db.run(work)

    async def types_after(
        self, customer_id: str, types: Sequence[str], since: datetime
    ) -> set[str]:
        """Which of `types` the customer has events of after `since` (D4's later_event_types)."""
        if not types:
            return set()

        def work(s: Session) -> set[str]:
            rows = s.execute(
                select(EVT.c.type)
                .where(
                    EVT.c.customer_id == customer_id,
                    EVT.c.type.in_(list(types)),
                    EVT.c.occurred_at > since,
                )
                .distinct()
            )
            return {str(t) for (t,) in rows}

        return await self.db.run(work)

    async def resolve_customer(
        self,
        *,
        customer_id: str | None = None,
        external_id: str | None = None,
        channel: str | None = None,
        create: bool = True,
    ) -> str:
        """The relaydesk customer an event is about: by relaydesk id; or, for `external_id`, on
        `channel` "telegram"/"wechat" by that channel's identity, and otherwise ("shop", "web"
        or none) by the shop's customer number (what `relaydesk orders import` keys customers
        by), then by the widget's signed identity (the host site's user id). A shop user known
        by neither is created with both keys (`create`), so the orders import and the widget
        later find the same customer. NotFoundError naming the key when there is none."""

        def work(s: Session) -> str:
            if customer_id is not None:
                found = s.execute(select(CUST.c.id).where(CUST.c.id == customer_id)).scalar()
                if found is None:
                    raise NotFoundError(f"no customer with id {customer_id!r}")
                return str(found)
            if not external_id:
                raise InputError("the customer needs an id or an external_id")
            if channel in ("telegram", "wechat"):
                found = s.execute(
                    select(IDENT.c.customer_id).where(
                        IDENT.c.channel == channel, IDENT.c.external_id == external_id
                    )
                ).scalar()
                if found is None:
                    raise NotFoundError(f"no customer known as {external_id!r} on {channel}")
                return str(found)
            found = s.execute(select(CUST.c.id).where(CUST.c.external_ref == external_id)).scalar()
            if found is None:
                found = s.execute(
                    select(IDENT.c.customer_id)
                    .where(IDENT.c.channel == SHOP_USER_CHANNEL, IDENT.c.external_id == external_id)
                    .order_by(IDENT.c.id)
                    .limit(1)
                ).scalar()
            if found is not None:
                return str(found)
            if not create:
                raise NotFoundError(f"no customer with shop id {external_id!r}")
            if len(external_id) > 64:
                raise InputError("customer.external_id is over 64 characters")
            new, at = new_id(), clock.now()
            s.execute(
                insert(CUST).values(
                    id=new,
                    external_ref=external_id,
                    tags=[],
                    attributes={},
                    created_at=at,
                    lifecycle="new",
                )
            )
            s.execute(
                insert(IDENT).values(
                    customer_id=new,
                    channel=SHOP_USER_CHANNEL,
                    external_id=external_id,
                    created_at=at,
                )
            )  # a race with another instance: run_retrying runs again and finds theirs
            s.commit()
            return new

        return await run_retrying(self.db, work)
