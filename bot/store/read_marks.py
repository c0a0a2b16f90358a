"""How far each side of a conversation has received and read the other side's messages: the
ticks beside a message in the widget and the console.

Two rows per conversation at most, one per reader: "customer" (how far the customer has
received and read the agents' and the bot's messages) and "agent" (how far the agents have read
the customer's). A mark is a message id (the global `messages.id`): everything of the
conversation up to it. Marks only move forward, read implies received, and a mark is clamped to
the conversation's newest message, so a client cannot mark messages that do not exist yet.

Two instances marking at once are serialised by the database: the row is created with an
insert that ignores a conflict, then moved by one conditional UPDATE whose WHERE says "only
forward", so the later, lower mark changes nothing instead of moving the mark back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot import clock
from bot.errors import InputError
from bot.store import models as m
from bot.store.engine import Database
from bot.store.errors import NotFoundError

READERS = ("customer", "agent")
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class ReadMarks:
    """One reader's marks (message ids; None: nothing yet). `changed` says whether the `mark`
    that returned them moved anything (then the caller publishes a receipt signal); it is not
    part of equality."""

    received_up_to: int | None = None
    read_up_to: int | None = None
    changed: bool = field(default=False, compare=False)

    def to_json(self) -> dict[str, int | None]:
        return {"received_up_to": self.received_up_to, "read_up_to": self.read_up_to}


class SqlReadMarks:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def mark(
        self,
        conversation_id: str,
        reader: str,
        *,
        received_up_to: int | None = None,
        read_up_to: int | None = None,
    ) -> ReadMarks:
        """Move `reader`'s marks forward to these message ids (read implies received) and
        return the marks now stored. Lower marks than the stored ones change nothing.

        Raises InputError for an unknown reader or a mark that is not a positive id, and
        NotFoundError for an unknown conversation."""
        if reader not in READERS:
            raise InputError(f"reader must be one of {', '.join(READERS)}")
        for name, value in (("received_up_to", received_up_to), ("read_up_to", read_up_to)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_ID
            ):
                raise InputError(f"{name} must be a positive message id")
        dialect = self.db.dialect

        def work(s: Session) -> ReadMarks:
            newest = s.execute(
                select(func.max(m.Message.id)).where(m.Message.conversation_id == conversation_id)
            ).scalar()
            if newest is None:
                if s.get(m.Conversation, conversation_id) is None:
                    raise NotFoundError(f"no conversation {conversation_id}")
                return ReadMarks()  # nothing to have received or read yet
            read = min(read_up_to, newest) if read_up_to is not None else None
            wanted = [v for v in (received_up_to, read) if v is not None]
            received = min(max(wanted), newest) if wanted else None
            if received is None:
                return _row(s, conversation_id, reader)
            key = {"conversation_id": conversation_id, "reader": reader}
            s.execute(_insert_missing(dialect, {**key, "updated_at": clock.now()}))
            moves: dict[str, Any] = {}
            forward: list[ColumnElement[bool]] = []
            for column, value in (
                (m.ReadMark.received_up_to, received),
                (m.ReadMark.read_up_to, read),
            ):
                if value is not None:
                    behind = _behind(column, value)
                    moves[column.key] = case((behind, value), else_=column)
                    forward.append(behind)
            moved = s.execute(
                update(m.ReadMark)
                .where(
                    m.ReadMark.conversation_id == conversation_id,
                    m.ReadMark.reader == reader,
                    or_(*forward),
                )
                .values(**moves, updated_at=clock.now())
            ).rowcount  # type: ignore[attr-defined]
            marks = _row(s, conversation_id, reader)
            s.commit()
            return ReadMarks(marks.received_up_to, marks.read_up_to, changed=bool(moved))

        return await self.db.run(work)

    async def get(self, conversation_id: str) -> dict[str, ReadMarks]:
        """Both readers' marks, {"customer": ..., "agent": ...} (empty marks where none)."""

        def work(s: Session) -> dict[str, ReadMarks]:
            rows = s.execute(
                select(m.ReadMark).where(m.ReadMark.conversation_id == conversation_id)
            ).scalars()
            found = {r.reader: ReadMarks(r.received_up_to, r.read_up_to) for r in rows}
            return {reader: found.get(reader, ReadMarks()) for reader in READERS}

        return await self.db.run(work)


def _behind(column: InstrumentedAttribute[int | None], value: int) -> ColumnElement[bool]:
    return or_(column.is_(None), column < value)


def _insert_missing(dialect: str, values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: the row exists afterwards, whoever made it."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(m.ReadMark).values(**values).on_conflict_do_nothing()


def _row(s: Session, conversation_id: str, reader: str) -> ReadMarks:
    row = s.get(m.ReadMark, (conversation_id, reader), populate_existing=True)
    return ReadMarks(row.received_up_to, row.read_up_to) if row else ReadMarks()
