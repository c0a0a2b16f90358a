"""Agents' console logins as stored: the password hash, the count of failed logins and the
lockout, and sessions kept by the SHA-256 of their token with their CSRF token.

Only the rows: hashing passwords, making tokens and deciding when to lock are the console's
(handoff/console/accounts.py), which hands this repository hashes and digests, never a password
or a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.store.agents import agent_row
from bot.store.engine import Database
from bot.store.records import AgentRecord
from bot.store.tables import agent_record, utc


@dataclass(frozen=True)
class Credentials:
    """What a login is checked against."""

    agent: AgentRecord
    password_hash: str | None  # None: no password set yet
    locked_until: datetime | None


class Accounts(Protocol):
    """Password hashes, failed logins and sessions of the agents."""

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        """Set the hash, clear failures and lockout, and end the agent's sessions;
        NotFoundError for an unknown username."""
        ...

    async def credentials(self, username: str) -> Credentials | None:
        """The agent's hash and lockout; None for an unknown username."""
        ...

    async def record_failure(
        self, agent_id: str, now: datetime, *, max_failures: int, lockout: timedelta
    ) -> None:
        """Count a failed login; the `max_failures`-th in a row locks the account until
        `now + lockout` and starts the count again."""
        ...

    async def start_session(
        self, agent_id: str, digest: str, csrf: str, now: datetime, expires_at: datetime
    ) -> None:
        """A new session for a successful login (failures cleared); expired ones are dropped."""
        ...

    async def session(self, digest: str, now: datetime) -> tuple[AgentRecord, str] | None:
        """The agent and CSRF token of the session with this digest, if it is live at `now`."""
        ...

    async def end_session(self, digest: str) -> None:
        """Forget the session (logging out); nothing if there is none."""
        ...


class SqlAccounts:
    """`Accounts` over the agents' rows and the agent_sessions table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        def work(s: Session) -> None:
            row = agent_row(s, username)
            row.password_hash, row.failed_logins, row.locked_until = password_hash, 0, None
            s.execute(delete(m.AgentSession).where(m.AgentSession.agent_id == row.id))
            s.commit()

        await self.db.run(work)

    async def credentials(self, username: str) -> Credentials | None:
        def work(s: Session) -> Credentials | None:
            row = s.scalar(select(m.Agent).where(m.Agent.username == username))
            if row is None:
                return None
            return Credentials(agent_record(row), row.password_hash, utc(row.locked_until))

        return await self.db.run(work)

    async def record_failure(
        self, agent_id: str, now: datetime, *, max_failures: int, lockout: timedelta
    ) -> None:
        def work(s: Session) -> None:
            row = s.get(m.Agent, agent_id)
            assert row is not None
            row.failed_logins = (row.failed_logins or 0) + 1
            if row.failed_logins >= max_failures:
                row.locked_until, row.failed_logins = now + lockout, 0
            s.commit()

        await self.db.run(work)

    async def start_session(
        self, agent_id: str, digest: str, csrf: str, now: datetime, expires_at: datetime
    ) -> None:
        def work(s: Session) -> None:
            row = s.get(m.Agent, agent_id)
            assert row is not None
            row.failed_logins, row.locked_until = 0, None
            s.add(
                m.AgentSession(
                    id=digest, agent_id=agent_id, csrf=csrf, created_at=now, expires_at=expires_at
                )
            )
            s.execute(delete(m.AgentSession).where(m.AgentSession.expires_at < now))
            s.commit()

        await self.db.run(work)

    async def session(self, digest: str, now: datetime) -> tuple[AgentRecord, str] | None:
        def work(s: Session) -> tuple[AgentRecord, str] | None:
            row = s.execute(
                select(m.AgentSession, m.Agent)
                .join(m.Agent, m.Agent.id == m.AgentSession.agent_id)
                .where(m.AgentSession.id == digest)
            ).first()
            if row is None:
                return None
            session, agent = row
            if agent.disabled_at is not None:  # disabled by an administrator meanwhile
                return None
            expires = utc(session.expires_at)
            if expires is None or expires <= now:
                return None
            return agent_record(agent), session.csrf

        return await self.db.run(work)

    async def end_session(self, digest: str) -> None:
        def work(s: Session) -> None:
            s.execute(delete(m.AgentSession).where(m.AgentSession.id == digest))
            s.commit()

        await self.db.run(work)
