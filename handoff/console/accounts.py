"""Console logins: argon2 password hashes, lockout after repeated failures, and sessions.

A session is a random token in an HttpOnly cookie; the database keeps only its SHA-256, with the
CSRF token that every state-changing request must echo in a header. Sessions live in the
database (bot/store/accounts.py), so any server instance can check any login.
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

from bot import clock
from bot.errors import InputError, RelaydeskError
from bot.store.records import AgentRecord
from bot.store.sql_store import SqlStore

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
        await self.store.accounts.set_password_hash(username, hashed)

    async def login(self, username: str, password: str) -> Login:
        now = clock.now()
        found = await self.store.accounts.credentials(username)
        if found is None:
            await self._cpu(self._verify, self._decoy, password)
            raise LoginError("wrong username or password")
        agent, hashed = found.agent, found.password_hash
        if found.locked_until is not None and found.locked_until > now:
            raise LockedError(found.locked_until)
        if hashed is None or not await self._cpu(self._verify, hashed, password):
            await self.store.accounts.record_failure(
                agent.id, now, max_failures=self.max_failures, lockout=self.lockout
            )
            raise LoginError("wrong username or password")
        if agent.disabled:  # told only to someone who knows the password
            raise LoginError("this account is disabled; ask a supervisor or an admin")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        await self.store.accounts.start_session(
            agent.id, _digest(token), csrf, now, now + self.session_for
        )
        return Login(agent, token, csrf)

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    async def session(self, token: str) -> tuple[AgentRecord, str] | None:
        """The agent and CSRF token of a live session, or None."""
        if not token or len(token) > 100:
            return None
        return await self.store.accounts.session(_digest(token), clock.now())

    async def logout(self, token: str) -> None:
        await self.store.accounts.end_session(_digest(token))
