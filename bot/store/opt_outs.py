"""The customers who opted out of proactive messages (bot/store/proactive_ledger.py), for good:
the first channel and way are kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.store import models as m
from bot.store.engine import Database
from bot.store.tables import upsert, utc

OPT = cast(Table, m.ProactiveOptOut.__table__)


class OptOuts:
    """`store.opt_outs`: the customers who want no proactive messages."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def opt_out(self, customer_id: str, channel: str, how: str) -> bool:
        """The customer wants no proactive messages, for good; True the first time (the first
        channel and way are kept), False when they had opted out already."""
        if not channel or len(channel) > 16:
            raise InputError("opt-out channel must be 1 to 16 characters")
        if not how or len(how) > 24:
            raise InputError("opt-out how must be 1 to 24 characters")

        def work(s: Session) -> bool:
            new = s.execute(
                upsert(s, OPT)
                .values(customer_id=customer_id, channel=channel, how=how, at=clock.now())
                .on_conflict_do_nothing(index_elements=["customer_id"])
                .returning(OPT.c.customer_id)
            ).scalar_one_or_none()
            s.commit()
            return new is not None

        return await self.db.run(work)

    async def is_opted_out(self, customer_id: str) -> bool:
        def work(s: Session) -> bool:
            found = s.execute(
                select(OPT.c.customer_id).where(OPT.c.customer_id == customer_id)
            ).first()
            return found is not None

        return await self.db.run(work)

    async def opted_out(self, customer_ids: Iterable[str]) -> set[str]:
        """Which of these customers opted out (for a batch of decisions)."""
        ids = sorted(set(customer_ids))

        def work(s: Session) -> set[str]:
            out: set[str] = set()
            for i in range(0, len(ids), 500):
                out.update(
                    str(c)
                    for (c,) in s.execute(
                        select(OPT.c.customer_id).where(OPT.c.customer_id.in_(ids[i : i + 500]))
                    )
                )
            return out

        return await self.db.run(work)

    async def opt_out_of(self, customer_id: str) -> tuple[str, str, datetime] | None:
        """(channel, how, when) of the customer's opt-out, None if they have not opted out."""

        def work(s: Session) -> tuple[str, str, datetime] | None:
            row = s.execute(select(OPT).where(OPT.c.customer_id == customer_id)).first()
            if row is None:
                return None
            return row.channel, row.how, utc(row.at) or row.at

        return await self.db.run(work)


__all__ = ["OptOuts"]
