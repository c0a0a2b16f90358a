"""Customers and their channel identities: who wrote, however they are known on each channel
(a Telegram chat id, a widget token, a WeChat openid), so the console shows one history per
person across channels.

A customer is created on first contact. Two processes meeting the same new sender race on the
identity's unique key; the loser runs again and finds the winner's customer.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Select, insert, select
from sqlalchemy.orm import Session

from bot import clock
from bot.store import models as m
from bot.store.engine import Database, run_retrying
from bot.store.errors import NotFoundError
from bot.store.models import new_id
from bot.store.records import CustomerRecord
from bot.store.tables import CONV, CUST, IDENT, OPEN, customer_record, only


class Customers(Protocol):
    """Who the customers are and how each is known on each channel."""

    async def for_identity(
        self,
        channel: str,
        external_id: str,
        *,
        name: str | None = None,
        language: str | None = None,
    ) -> CustomerRecord:
        """The customer known as `external_id` on `channel`, created on first contact."""
        ...

    async def find(self, channel: str, external_id: str) -> CustomerRecord | None:
        """The customer known as `external_id` on `channel`, without creating one."""
        ...

    async def link(self, customer_id: str, channel: str, external_id: str) -> None:
        """Attach another channel identity to a known customer (cross-channel history)."""
        ...

    async def get(self, customer_id: str) -> CustomerRecord:
        """The customer; NotFoundError if there is none."""
        ...

    async def update(self, customer_id: str, **fields: Any) -> CustomerRecord:
        """Set name, language, tags or attributes; InputError for any other field."""
        ...


class SqlCustomers:
    """`Customers` over the store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def for_identity(
        self,
        channel: str,
        external_id: str,
        *,
        name: str | None = None,
        language: str | None = None,
    ) -> CustomerRecord:
        def work(s: Session) -> CustomerRecord:
            customer, _ = find_or_create(s, channel, external_id, name=name, language=language)
            s.commit()
            return customer

        return await run_retrying(self.db, work)

    async def find(self, channel: str, external_id: str) -> CustomerRecord | None:
        def work(s: Session) -> CustomerRecord | None:
            row = s.execute(known_as(select(CUST), channel, external_id)).first()
            return customer_record(row) if row is not None else None

        return await self.db.run(work)

    async def link(self, customer_id: str, channel: str, external_id: str) -> None:
        def work(s: Session) -> None:
            existing = s.scalar(
                select(m.ChannelIdentity).where(
                    m.ChannelIdentity.channel == channel,
                    m.ChannelIdentity.external_id == external_id,
                )
            )
            if existing is None:
                s.add(
                    m.ChannelIdentity(
                        customer_id=customer_id, channel=channel, external_id=external_id
                    )
                )
            else:
                existing.customer_id = customer_id
            s.commit()

        await run_retrying(self.db, work)

    async def get(self, customer_id: str) -> CustomerRecord:
        def work(s: Session) -> CustomerRecord:
            row = s.get(m.Customer, customer_id)
            if row is None:
                raise NotFoundError(f"no customer {customer_id!r}")
            return customer_record(row)

        return await self.db.run(work)

    async def update(self, customer_id: str, **fields: Any) -> CustomerRecord:
        only("customer", fields, {"name", "language", "tags", "attributes"})

        def work(s: Session) -> CustomerRecord:
            row = s.get(m.Customer, customer_id)
            if row is None:
                raise NotFoundError(f"no customer {customer_id!r}")
            for key, value in fields.items():
                setattr(row, key, list(value) if key == "tags" else value)
            s.commit()
            return customer_record(row)

        return await self.db.run(work)


# -- statements other repositories run inside their own transaction ----------------------------
def find_or_create(
    s: Session,
    channel: str,
    external_id: str,
    *,
    name: str | None = None,
    language: str | None = None,
) -> tuple[CustomerRecord, str | None]:
    """The customer known as `external_id` on `channel` (created on first contact) and the id
    of their newest open conversation there, in one query."""
    open_conv = (
        select(CONV.c.id)
        .where(
            CONV.c.customer_id == CUST.c.id,
            CONV.c.channel == channel,
            CONV.c.status.in_(OPEN),
        )
        .order_by(CONV.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    row = s.execute(
        known_as(select(CUST, open_conv.label("open_conversation")), channel, external_id)
    ).first()
    if row is not None:
        return customer_record(row), row.open_conversation
    customer_id, at = new_id(), clock.now()
    s.execute(
        insert(CUST).values(
            id=customer_id,
            name=name,
            language=language,
            tags=[],
            attributes={},
            created_at=at,
            lifecycle="new",  # first contact: new by definition until the segments next run
        )
    )
    s.execute(
        insert(IDENT).values(
            customer_id=customer_id, channel=channel, external_id=external_id, created_at=at
        )
    )  # a unique-key race with another process: the caller retries and finds theirs
    return CustomerRecord(customer_id, name, language, (), {}, at, lifecycle="new"), None


def known_as(query: Select[Any], channel: str, external_id: str) -> Select[Any]:
    """`query` on customers, narrowed to the one known as `external_id` on `channel`."""
    return query.join(IDENT, IDENT.c.customer_id == CUST.c.id).where(
        IDENT.c.channel == channel, IDENT.c.external_id == external_id
    )
