"""Console logins: argon2 password hashes, lockout after repeated failures, and sessions.

A session is a random token in an HttpOnly cookie; the database keeps only its SHA-256, with the
CSRF token that every state-changing request must echo in a header. Sessions live in the
database, so any server instance can check any login.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError, RelaydeskError
from bot.store import models as m
from bot.store.agents import agent_row
from bot.store.records import AgentRecord
from bot.store.sql_store import SqlStore
from bot.store.tables import agent_record as _agent
from bot.store.tables import utc as _utc

T = TypeVar("T")
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 200


class LoginError(RelaydeskError):
    """Wrong username or password (never says which)."""


class LockedError(RelaydeskError):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed logins; try again after {until:%H:%M} UTC")
        self.until = until


@dataclass(frozen=True)
class Login:
    agent: AgentRecord
    token: str  # for the cookie; not stored
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(
        self,
        store: SqlStore,
        *,
        session_hours: float = 12,
        max_failures: int = 5,
        lockout_minutes: float = 15,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self.session_for = timedelta(hours=session_hours)
        self.max_failures = max_failures
        self.lockout = timedelta(minutes=lockout_minutes)
        self.hasher = hasher or PasswordHasher()
        # Checked when the username is unknown, so a wrong name costs as long as a wrong password.
        self._decoy = self.hasher.hash(secrets.token_urlsafe(16))

    async def _cpu(self, fn: Callable[..., T], *args: Any) -> T:
        """argon2 takes tens of milliseconds of CPU on purpose; keep it off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def set_password(self, username: str, password: str) -> None:
        if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
            raise InputError(
                f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
            )
        hashed = await self._cpu(self.hasher.hash, password)

        def work(s: Session) -> None:
            row = agent_row(s, username)
            row.password_hash, row.failed_logins, row.locked_until = hashed, 0, None
            s.execute(delete(m.AgentSession).where(m.AgentSession.agent_id == row.id))
            s.commit()

        await self.store.db.run(work)

    async def login(self, username: str, password: str) -> Login:
        now = clock.now()

        def load(s: Session) -> tuple[AgentRecord, str | None, datetime | None] | None:
            row = s.scalar(select(m.Agent).where(m.Agent.username == username))
            if row is None:
                return None
            return _agent(row), row.password_hash, _utc(row.locked_until)

        found = await self.store.db.run(load)
        if found is None:
            await self._cpu(self._verify, self._decoy, password)
            raise LoginError("wrong username or password")
        agent, hashed, locked_until = found
        if locked_until is not None and locked_until > now:
            raise LockedError(locked_until)
        if hashed is None or not await self._cpu(self._verify, hashed, password):
            await self.store.db.run(lambda s: self._failed(s, agent.id, now))
            raise LoginError("wrong username or password")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)

        def start(s: Session) -> None:
            row = s.get(m.Agent, agent.id)
            assert row is not None
            row.failed_logins, row.locked_until = 0, None
            s.add(
                m.AgentSession(
                    id=_digest(token),
                    agent_id=agent.id,
                    csrf=csrf,
                    created_at=now,
                    expires_at=now + self.session_for,
                )
            )
            s.execute(delete(m.AgentSession).where(m.AgentSession.expires_at < now))
            s.commit()

        await self.store.db.run(start)
        return Login(agent, token, csrf)

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def _failed(self, s: Session, agent_id: str, now: datetime) -> None:
        """Count a failure in a row; the fifth locks the account for the lockout period."""
        row = s.get(m.Agent, agent_id)
        assert row is not None
        row.failed_logins = (row.failed_logins or 0) + 1
        if row.failed_logins >= self.max_failures:
            row.locked_until, row.failed_logins = now + self.lockout, 0
        s.commit()

    async def session(self, token: str) -> tuple[AgentRecord, str] | None:
        """The agent and CSRF token of a live session, or None."""
        if not token or len(token) > 100:
            return None
        now = clock.now()

        def work(s: Session) -> tuple[AgentRecord, str] | None:
            row = s.execute(
                select(m.AgentSession, m.Agent)
                .join(m.Agent, m.Agent.id == m.AgentSession.agent_id)
                .where(m.AgentSession.id == _digest(token))
            ).first()
            if row is None:
                return None
            session, agent = row
            expires = _utc(session.expires_at)
            if expires is None or expires <= now:
                return None
            return _agent(agent), session.csrf

        return await self.store.db.run(work)

    async def logout(self, token: str) -> None:
        def work(s: Session) -> None:
            s.execute(delete(m.AgentSession).where(m.AgentSession.id == _digest(token)))
            s.commit()

        await self.store.db.run(work)
