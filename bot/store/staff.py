"""Administering the agents' accounts: adding them, changing what they handle and their role,
disabling them, resetting their passwords. Each change and its audit entry (bot/store/audit.py)
commit together.

bot/store/agents.py stays the team as routing and the console read it (and the status an agent
sets for themselves); this module is the administrators' side of the same rows. Who may do what
is decided by handoff/console/administration.py; the one rule kept here, inside the transaction
so two administrators cannot both pass it: the last active admin cannot be demoted or disabled.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.store import models as m
from bot.store.agents import agent_row
from bot.store.audit import diff, record
from bot.store.engine import Database
from bot.store.records import AgentRecord
from bot.store.tables import agent_record, only

EDITABLE = {"display_name", "role", "skills", "languages", "max_concurrent", "status"}


def _fields(row: m.Agent) -> dict[str, Any]:
    return {
        "display_name": row.display_name,
        "role": row.role,
        "skills": list(row.skills or []),
        "languages": list(row.languages or []),
        "max_concurrent": row.max_concurrent,
        "status": row.status,
    }


def _keep_an_admin(s: Session, row: m.Agent) -> None:
    """Refuse a change that would leave no active admin (nobody could administer any more)."""
    if row.role != "admin" or row.disabled_at is not None:
        return
    others = s.scalar(
        select(func.count())
        .select_from(m.Agent)
        .where(m.Agent.role == "admin", m.Agent.disabled_at.is_(None), m.Agent.id != row.id)
    )
    if not others:
        raise InputError(f"{row.username} is the last active admin; make another admin first")


class SqlStaff:
    """The administrators' changes to agents, each audited."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        actor: str,
        username: str,
        display_name: str,
        *,
        role: str,
        skills: list[str],
        languages: list[str],
        max_concurrent: int,
        password_hash: str | None = None,
    ) -> AgentRecord:
        """A new agent (offline until they log in and go online); InputError if the username
        is taken."""

        def work(s: Session) -> AgentRecord:
            row = m.Agent(
                username=username,
                display_name=display_name,
                role=role,
                skills=skills,
                languages=languages,
                max_concurrent=max_concurrent,
                status="offline",
                password_hash=password_hash,
            )
            s.add(row)
            try:
                s.flush()
            except IntegrityError as exc:
                raise InputError(f"agent {username!r} exists already") from exc
            after = _fields(row)
            after["password"] = "set" if password_hash else "none"
            record(s, actor, "agent.add", f"agent:{username}", after)
            s.commit()
            return agent_record(row)

        return await self.db.run(work)

    async def update(self, actor: str, username: str, **fields: Any) -> AgentRecord:
        """Change any of EDITABLE; a disabled agent cannot be set online."""
        only("agent", fields, EDITABLE)

        def work(s: Session) -> AgentRecord:
            row = agent_row(s, username)
            if row.disabled_at is not None and fields.get("status") == "online":
                raise InputError(f"{username} is disabled; enable them first")
            if "role" in fields and fields["role"] != "admin":
                _keep_an_admin(s, row)
            changes = diff(_fields(row), fields)
            if changes:
                for key, value in fields.items():
                    setattr(row, key, value)
                record(s, actor, "agent.update", f"agent:{username}", changes)
                s.commit()
            return agent_record(row)

        return await self.db.run(work)

    async def set_disabled(self, actor: str, username: str, disabled: bool) -> AgentRecord:
        """Disable (offline, every session ended, no login) or enable again."""

        def work(s: Session) -> AgentRecord:
            row = agent_row(s, username)
            if disabled == (row.disabled_at is not None):
                return agent_record(row)
            if disabled:
                _keep_an_admin(s, row)
                row.disabled_at, row.status = clock.now(), "offline"
                s.execute(delete(m.AgentSession).where(m.AgentSession.agent_id == row.id))
            else:
                row.disabled_at, row.failed_logins, row.locked_until = None, 0, None
            action = "agent.disable" if disabled else "agent.enable"
            record(s, actor, action, f"agent:{username}", {})
            s.commit()
            return agent_record(row)

        return await self.db.run(work)

    async def set_password_hash(self, actor: str, username: str, password_hash: str) -> None:
        """A new password: failures and lockout cleared, every session of theirs ended."""

        def work(s: Session) -> None:
            row = agent_row(s, username)
            row.password_hash, row.failed_logins, row.locked_until = password_hash, 0, None
            s.execute(delete(m.AgentSession).where(m.AgentSession.agent_id == row.id))
            record(s, actor, "agent.password_reset", f"agent:{username}", {})
            s.commit()

        await self.db.run(work)
