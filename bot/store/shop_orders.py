"""The shop's orders as `relaydesk orders import` loaded them: what the value segment and the
lifecycle read, what the console lists on a customer's profile, and what an order look-up can
answer from (bot/dialogue/orders.py may read it through `find`).

An order belongs to the customer whose shop number (`customer_ref`) it carries; importing the
same order again replaces it, so a nightly export can be loaded as a whole every night.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from bot import clock
from bot.store import models as m
from bot.store.engine import Database
from bot.store.tables import CUST, utc

ORD = cast(Table, m.ShopOrder.__table__)
ORDER_STATUSES = ("paid", "shipped", "delivered", "cancelled", "refunded")


@dataclass(frozen=True)
class ShopOrderRecord:
    order_id: str
    customer_id: str | None
    customer_ref: str
    items: str
    status: str
    amount_cents: int
    currency: str
    ordered_at: datetime
    courier: str | None = None
    tracking: str | None = None
    eta: str | None = None


def order_record(row: Any) -> ShopOrderRecord:
    return ShopOrderRecord(
        row.order_id,
        row.customer_id,
        row.customer_ref,
        row.items,
        row.status,
        int(row.amount_cents),
        row.currency,
        utc(row.ordered_at) or row.ordered_at,
        row.courier,
        row.tracking,
        row.eta,
    )


class ShopOrders:
    """The imported orders."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def find(self, order_id: str) -> ShopOrderRecord | None:
        def work(s: Session) -> ShopOrderRecord | None:
            row = s.execute(select(ORD).where(ORD.c.order_id == order_id.lstrip("#"))).first()
            return order_record(row) if row is not None else None

        return await self.db.run(work)

    async def of_customer(self, customer_id: str, limit: int = 20) -> list[ShopOrderRecord]:
        """The customer's newest orders first."""

        def work(s: Session) -> list[ShopOrderRecord]:
            rows = s.execute(
                select(ORD)
                .where(ORD.c.customer_id == customer_id)
                .order_by(ORD.c.ordered_at.desc(), ORD.c.order_id)
                .limit(limit)
            )
            return [order_record(r) for r in rows]

        return await self.db.run(work)

    async def unknown_customers(self, refs: Sequence[str]) -> set[str]:
        """Which of these shop customer numbers no customer carries."""

        def work(s: Session) -> set[str]:
            wanted = set(refs)
            known: set[str] = set()
            batch = sorted(wanted)
            for i in range(0, len(batch), 500):
                known.update(
                    r
                    for (r,) in s.execute(
                        select(CUST.c.external_ref).where(
                            CUST.c.external_ref.in_(batch[i : i + 500])
                        )
                    )
                )
            return wanted - known

        return await self.db.run(work)

    async def put_many(self, orders: Sequence[ShopOrderRecord]) -> int:
        """Store these orders (replacing any with the same number) for the customers whose
        shop numbers they carry, in one transaction; how many were stored."""

        def work(s: Session) -> int:
            refs = sorted({o.customer_ref for o in orders})
            owner: dict[str, str] = {}
            for i in range(0, len(refs), 500):
                owner.update(
                    {
                        ref: cid
                        for ref, cid in s.execute(
                            select(CUST.c.external_ref, CUST.c.id).where(
                                CUST.c.external_ref.in_(refs[i : i + 500])
                            )
                        )
                    }
                )
            ids = [o.order_id for o in orders]
            for i in range(0, len(ids), 500):
                s.execute(delete(ORD).where(ORD.c.order_id.in_(ids[i : i + 500])))
            at = clock.now()
            if orders:
                s.execute(
                    insert(ORD),
                    [
                        {
                            "order_id": o.order_id,
                            "customer_id": owner.get(o.customer_ref),
                            "customer_ref": o.customer_ref,
                            "items": o.items,
                            "status": o.status,
                            "amount_cents": o.amount_cents,
                            "currency": o.currency,
                            "ordered_at": o.ordered_at,
                            "courier": o.courier,
                            "tracking": o.tracking,
                            "eta": o.eta,
                            "imported_at": at,
                        }
                        for o in orders
                    ],
                )
            s.commit()
            return len(orders)

        return await self.db.run(work)
