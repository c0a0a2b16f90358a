"""Agents: the people who take over from the bot, with the skills and languages routing matches
against and how many chats each may hold at once. Their logins (password hashes, sessions) are
bot/store/accounts.py, over the same rows via `agent_row`.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.store import models as m
from bot.store.engine import Database
from bot.store.errors import NotFoundError
from bot.store.records import AgentRecord
from bot.store.tables import agent_record, only

UPDATABLE = {"display_name", "role", "skills", "languages", "max_concurrent", "status"}


class Agents(Protocol):
    """The team: who they are, what they handle, whether they are online."""

    async def add(
        self,
        username: str,
        display_name: str,
        *,
        role: str = "agent",
        skills: list[str] | None = None,
        languages: list[str] | None = None,
        max_concurrent: int = 3,
        status: str = "offline",
    ) -> AgentRecord:
        """A new agent; InputError if the username is taken."""
        ...

    async def update(self, username: str, **fields: Any) -> AgentRecord:
        """Set display_name, role, skills, languages, max_concurrent or status; InputError for
        any other field, NotFoundError for an unknown username."""
        ...

    async def get(self, username: str) -> AgentRecord:
        """The agent by username; NotFoundError if there is none."""
        ...

    async def all(self) -> list[AgentRecord]:
        """Every agent, by username."""
        ...


class SqlAgents:
    """`Agents` over the store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        username: str,
        display_name: str,
        *,
        role: str = "agent",
        skills: list[str] | None = None,
        languages: list[str] | None = None,
        max_concurrent: int = 3,
        status: str = "offline",
    ) -> AgentRecord:
        def work(s: Session) -> AgentRecord:
            row = m.Agent(
                username=username,
                display_name=display_name,
                role=role,
                skills=skills or [],
                languages=languages or ["zh", "en"],
                max_concurrent=max_concurrent,
                status=status,
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError as exc:
                raise InputError(f"agent {username!r} exists already") from exc
            return agent_record(row)

        return await self.db.run(work)

    async def update(self, username: str, **fields: Any) -> AgentRecord:
        only("agent", fields, UPDATABLE)

        def work(s: Session) -> AgentRecord:
            row = agent_row(s, username)
            for key, value in fields.items():
                setattr(row, key, value)
            s.commit()
            return agent_record(row)

        return await self.db.run(work)

    async def get(self, username: str) -> AgentRecord:
        def work(s: Session) -> AgentRecord:
            row = agent_row(s, username)
            return agent_record(row)

        return await self.db.run(work)

    async def all(self) -> list[AgentRecord]:
        def work(s: Session) -> list[AgentRecord]:
            return [agent_record(r) for r in s.scalars(select(m.Agent).order_by(m.Agent.username))]

        return await self.db.run(work)


def agent_row(s: Session, username: str) -> m.Agent:
    """The agent's row by username, inside the caller's transaction; NotFoundError if none."""
    row = s.scalar(select(m.Agent).where(m.Agent.username == username))
    if row is None:
        raise NotFoundError(f"no agent {username!r}")
    return row
