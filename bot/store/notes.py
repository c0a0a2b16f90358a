"""Private notes: what agents write about a conversation for each other (a callback time, what
was promised). They are kept apart from the transcript, so no channel ever shows them to the
customer."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.store import models as m
from bot.store.engine import Database
from bot.store.errors import NotFoundError
from bot.store.records import NoteRecord
from bot.store.tables import MAX_TEXT_CHARS, note_record


class Notes(Protocol):
    """Agents' private notes on conversations."""

    async def add(self, conversation_id: str, agent_id: str | None, text: str) -> NoteRecord:
        """A note on the conversation; InputError for an empty or overlong one, NotFoundError
        for an unknown conversation."""
        ...

    async def of(self, conversation_id: str) -> list[NoteRecord]:
        """The conversation's notes, oldest first."""
        ...


class SqlNotes:
    """`Notes` over the store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, conversation_id: str, agent_id: str | None, text: str) -> NoteRecord:
        if not text.strip():
            raise InputError("the note is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"note over {MAX_TEXT_CHARS} characters")

        def work(s: Session) -> NoteRecord:
            if s.get(m.Conversation, conversation_id) is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            row = m.Note(conversation_id=conversation_id, agent_id=agent_id, text=text)
            s.add(row)
            s.commit()
            return note_record(row)

        return await self.db.run(work)

    async def of(self, conversation_id: str) -> list[NoteRecord]:
        def work(s: Session) -> list[NoteRecord]:
            rows = s.scalars(
                select(m.Note).where(m.Note.conversation_id == conversation_id).order_by(m.Note.id)
            )
            return [note_record(r) for r in rows]

        return await self.db.run(work)
