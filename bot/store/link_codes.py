"""One-time codes that carry a known customer to another channel: the widget hands one out,
the customer opens the Telegram bot with `/start CODE`, and that chat joins the same customer,
so the console shows one history. Only the code's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.store import models as m
from bot.store.engine import Database

CODE_CHARS = 24  # Telegram's start parameter allows up to 64 of A-Z, a-z, 0-9, _ and -


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class LinkCodes:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def issue(self, customer_id: str, *, minutes: float = 30) -> tuple[str, datetime]:
        code = secrets.token_urlsafe(18)[:CODE_CHARS]
        expires = clock.now() + timedelta(minutes=minutes)

        def work(s: Session) -> None:
            s.execute(
                insert(m.LinkCode).values(
                    code=_digest(code),
                    customer_id=customer_id,
                    expires_at=expires,
                    created_at=clock.now(),
                )
            )
            s.commit()

        await self.db.run(work)
        return code, expires

    async def redeem(self, code: str) -> str | None:
        """The customer the code was issued to, once; None if unknown, used or expired."""
        if not code or len(code) > 64:
            return None
        digest = _digest(code)

        def work(s: Session) -> str | None:
            now = clock.now()
            used = s.execute(
                update(m.LinkCode)
                .where(
                    m.LinkCode.code == digest,
                    m.LinkCode.used_at.is_(None),
                    m.LinkCode.expires_at > now,
                )
                .values(used_at=now)
            ).rowcount  # type: ignore[attr-defined]
            customer = (
                s.execute(select(m.LinkCode.customer_id).where(m.LinkCode.code == digest)).scalar()
                if used
                else None
            )
            s.commit()
            return customer

        return await self.db.run(work)
