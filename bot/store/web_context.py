"""Where a web customer is: the page they opened the widget on, their browser, time zone and
screen, and the host site's verified user id, as the widget's last hello said (contract C5).
Agents read it in the console's customer panel; one row per customer, replaced by each hello,
so it says where the customer is now rather than keeping a browsing history."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import clock
from bot.store import models as m
from bot.store.engine import Database
from bot.store.tables import utc

# Column widths (migration 0015): longer values are cut, never refused, since they only inform.
WIDTHS = {
    "page_url": 500,
    "page_title": 500,
    "referrer": 500,
    "user_agent": 500,
    "browser": 80,
    "timezone": 64,
    "screen": 32,
    "identity": 200,
    "language": 8,
}


@dataclass(frozen=True)
class WebContext:
    """One hello's context. `browser` is the short form of `user_agent` ("Chrome 120 on
    Android"); `identity` the host's verified user id, None for an anonymous visitor."""

    page_url: str | None = None
    page_title: str | None = None
    referrer: str | None = None
    user_agent: str | None = None
    browser: str | None = None
    timezone: str | None = None
    screen: str | None = None
    identity: str | None = None
    language: str | None = None
    seen_at: datetime = field(default_factory=clock.now)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seen_at"] = self.seen_at.isoformat()
        return data


def _fit(ctx: WebContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, width in WIDTHS.items():
        value = getattr(ctx, name)
        values[name] = value[:width] if isinstance(value, str) and value else None
    values["seen_at"] = ctx.seen_at
    return values


class WebContexts:
    """`store.web_context`: record the latest context of a customer, read it back."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, customer_id: str, context: WebContext) -> None:
        values = _fit(context)

        def work(s: Session) -> None:
            for _ in range(2):  # two sockets of one customer may insert at once: then update
                row = s.get(m.WebContext, customer_id)
                if row is None:
                    s.add(m.WebContext(customer_id=customer_id, **values))
                else:
                    for key, value in values.items():
                        setattr(row, key, value)
                try:
                    s.commit()
                    return
                except IntegrityError:
                    s.rollback()
            raise RuntimeError(f"web context of {customer_id} could not be recorded")

        await self.db.run(work)

    async def latest(self, customer_id: str) -> WebContext | None:
        def work(s: Session) -> WebContext | None:
            row = s.execute(
                select(m.WebContext).where(m.WebContext.customer_id == customer_id)
            ).scalar_one_or_none()
            if row is None:
                return None
            return WebContext(
                **{name: getattr(row, name) for name in WIDTHS},
                seen_at=utc(row.seen_at) or row.seen_at,
            )

        return await self.db.run(work)
