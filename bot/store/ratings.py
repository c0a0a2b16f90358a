"""Ratings: the customer's score (1 to 5) of a resolved conversation, at most one each, so a
satisfaction figure counts every conversation once however often the customer answers."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.privacy import mask_text
from bot.store import models as m
from bot.store.conversations import latest_row
from bot.store.engine import Database
from bot.store.records import ConversationRecord, RatingRecord
from bot.store.settings import StoreSettings
from bot.store.tables import conversation_record, utc


class Ratings(Protocol):
    """Customers' ratings of their conversations."""

    async def add(self, conversation_id: str, score: int, comment: str = "") -> RatingRecord:
        """Rate the conversation; InputError for a score outside 1 to 5 or a second rating."""
        ...

    async def awaiting(self, customer_id: str, channel: str) -> ConversationRecord | None:
        """The customer's latest conversation on this channel if it was resolved and not rated."""
        ...


class SqlRatings:
    """`Ratings` over the store's database."""

    def __init__(self, db: Database, settings: StoreSettings) -> None:
        self.db = db
        self.settings = settings

    async def add(self, conversation_id: str, score: int, comment: str = "") -> RatingRecord:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise InputError(f"rating {score!r}: a whole number from 1 to 5")
        if self.settings.mask_transcripts:
            comment = mask_text(comment)

        def work(s: Session) -> RatingRecord:
            row = m.Rating(conversation_id=conversation_id, score=score, comment=comment[:2000])
            s.add(row)
            try:
                s.commit()
            except IntegrityError as exc:
                raise InputError("this conversation has been rated already") from exc
            return RatingRecord(
                conversation_id, score, row.comment, utc(row.created_at) or row.created_at
            )

        return await self.db.run(work)

    async def awaiting(self, customer_id: str, channel: str) -> ConversationRecord | None:
        def work(s: Session) -> ConversationRecord | None:
            row = latest_row(s, customer_id, channel)
            if row is None or row.status != "resolved":
                return None
            rated = s.scalar(select(m.Rating.id).where(m.Rating.conversation_id == row.id))
            return None if rated else conversation_record(row)

        return await self.db.run(work)
