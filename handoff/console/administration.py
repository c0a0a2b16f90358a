"""Administration: who may change which agents and settings, with what values, and the changes
themselves (through bot/store/staff.py and bot/store/admin_settings.py, each audited).

The console's admin API and `relaydesk agents` both come through here, so the rules are the same
whichever way a change is made:

- agents cannot administer anything;
- supervisors manage agents whose role is `agent` (add, edit, disable, reset the password; they
  cannot grant or change the supervisor or admin roles), holidays and canned responses;
- admins manage everything, including roles and the skill groups with their service hours;
- nobody disables themselves, and the last active admin stays an admin (the store checks that).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from typing import Any

from bot.config import HandoffSection
from bot.errors import InputError, RelaydeskError
from bot.store.admin_settings import (
    LANGUAGES,
    CannedRecord,
    HolidayRecord,
    SqlAdminSettings,
    check_hours,
    skill_group,
)
from bot.store.audit import AuditRecord, SqlAuditLog
from bot.store.live_settings import LiveSettings
from bot.store.records import AgentRecord
from bot.store.sql_store import SqlStore
from bot.store.staff import SqlStaff
from handoff.console.accounts import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, Accounts

ROLES = ("agent", "supervisor", "admin")
STATUSES = ("online", "away", "offline")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
MAX_CHATS = 20
# What each kind of change needs: the roles allowed.
NEEDS = {
    "agents": ("supervisor", "admin"),
    "holidays": ("supervisor", "admin"),
    "canned": ("supervisor", "admin"),
    "audit": ("supervisor", "admin"),
    "groups": ("admin",),
}


class AdminPermissionError(RelaydeskError):
    """The actor's role does not allow this change (HTTP 403)."""


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a logged-in agent, or the CLI (run by someone with the database)."""

    name: str
    role: str

    @classmethod
    def of(cls, agent: AgentRecord) -> Actor:
        return cls(agent.username, agent.role)


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{what}: a list of names")
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


class Administration:
    """The rules and the changes; `live` is refreshed after each settings change, so this
    instance routes by it at once (others within their polling interval)."""

    def __init__(
        self, store: SqlStore, accounts: Accounts, live: LiveSettings, handoff: HandoffSection
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.live = live
        self.handoff = handoff
        self.staff = SqlStaff(store.db)
        self.settings: SqlAdminSettings = live.settings
        self.audit = SqlAuditLog(store.db)

    # -- rules -----------------------------------------------------------------------------
    def require(self, actor: Actor, kind: str) -> None:
        if actor.role not in NEEDS[kind]:
            allowed = " and ".join(f"{r}s" for r in NEEDS[kind])
            raise AdminPermissionError(f"{kind}: {allowed} only")

    def _may_manage(self, actor: Actor, target_role: str, new_role: str | None = None) -> None:
        self.require(actor, "agents")
        if actor.role == "admin":
            return
        if target_role != "agent" or (new_role is not None and new_role != "agent"):
            raise AdminPermissionError(
                "supervisors manage agents only; roles supervisor and admin are an admin's"
            )

    # -- checks ----------------------------------------------------------------------------
    def _skills(self, value: Any) -> list[str]:
        skills = _strings(value, "skills")
        unknown = set(skills) - set(self.live.groups)
        if unknown:
            raise InputError(
                f"unknown skill group(s) {', '.join(sorted(unknown))}"
                f"; configured: {', '.join(sorted(self.live.groups))}"
            )
        return skills

    @staticmethod
    def _languages(value: Any) -> list[str]:
        languages = _strings(value, "languages")
        if not languages or set(languages) - set(LANGUAGES):
            raise InputError("languages: zh and/or en")
        return languages

    @staticmethod
    def _max(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CHATS:
            raise InputError(f"max_concurrent: a whole number from 1 to {MAX_CHATS}")
        return value

    @staticmethod
    def _name(value: Any) -> str:
        if not isinstance(value, str) or not 0 < len(value.strip()) <= 200:
            raise InputError("display_name: 1 to 200 characters")
        return value.strip()

    @staticmethod
    def _role(value: Any) -> str:
        if value not in ROLES:
            raise InputError(f"role: one of {', '.join(ROLES)}")
        return str(value)

    async def _hash(self, password: Any) -> str:
        if not isinstance(password, str) or not (
            MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS
        ):
            raise InputError(
                f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
            )
        # argon2 costs tens of milliseconds of CPU on purpose: off the event loop.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.accounts.hasher.hash, password)

    # -- agents ----------------------------------------------------------------------------
    async def agents(self, actor: Actor) -> list[AgentRecord]:
        self.require(actor, "agents")
        return await self.store.agents.all()

    async def add_agent(
        self,
        actor: Actor,
        username: Any,
        *,
        display_name: Any = None,
        role: Any = "agent",
        skills: Any = None,
        languages: Any = None,
        max_concurrent: Any = 3,
        password: Any = None,
    ) -> AgentRecord:
        """A new agent; with a password they can log in at once."""
        self.require(actor, "agents")  # before any check, so a refusal tells nothing else
        if not isinstance(username, str) or not USERNAME.match(username):
            raise InputError(
                "username: 2 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or a digit"
            )
        role = self._role(role)
        self._may_manage(actor, "agent", role)
        return await self.staff.add(
            actor.name,
            username,
            self._name(display_name or username),
            role=role,
            skills=self._skills([] if skills is None else skills),
            languages=self._languages(list(LANGUAGES) if languages is None else languages),
            max_concurrent=self._max(max_concurrent),
            password_hash=await self._hash(password) if password is not None else None,
        )

    async def update_agent(self, actor: Actor, username: str, **fields: Any) -> AgentRecord:
        """Change display_name, role, skills, languages, max_concurrent or status."""
        self.require(actor, "agents")
        checks = {
            "display_name": self._name,
            "role": self._role,
            "skills": self._skills,
            "languages": self._languages,
            "max_concurrent": self._max,
        }
        clean: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "status":
                if value not in STATUSES:
                    raise InputError(f"status: one of {', '.join(STATUSES)}")
                clean[key] = value
            elif key in checks:
                clean[key] = checks[key](value)
            else:
                allowed = ", ".join(sorted([*checks, "status"]))
                raise InputError(f"unknown agent field {key!r}; allowed: {allowed}")
        if not clean:
            raise InputError("nothing to change")
        target = await self.store.agents.get(username)
        self._may_manage(actor, target.role, clean.get("role"))
        return await self.staff.update(actor.name, username, **clean)

    async def set_disabled(self, actor: Actor, username: str, disabled: bool) -> AgentRecord:
        self.require(actor, "agents")
        target = await self.store.agents.get(username)
        self._may_manage(actor, target.role)
        if disabled and username == actor.name:
            raise InputError("you cannot disable your own account")
        return await self.staff.set_disabled(actor.name, username, disabled)

    async def reset_password(self, actor: Actor, username: str, password: Any = None) -> str | None:
        """Set a new password and end the agent's sessions. Without `password`, one is made up
        and returned (shown once, to hand over); with one, None."""
        self.require(actor, "agents")
        target = await self.store.agents.get(username)
        self._may_manage(actor, target.role)
        made = secrets.token_urlsafe(12) if password is None else None
        hashed = await self._hash(made or password)
        await self.staff.set_password_hash(actor.name, username, hashed)
        return made

    # -- skill groups and hours ------------------------------------------------------------
    async def put_group(self, actor: Actor, name: str, fields: dict[str, Any]) -> bool:
        self.require(actor, "groups")
        created = await self.settings.put_group(actor.name, name, skill_group(fields))
        await self.live.refresh()
        return created

    async def delete_group(self, actor: Actor, name: str) -> None:
        self.require(actor, "groups")
        keep = {self.handoff.default_group, self.handoff.overflow_group or ""}
        await self.settings.delete_group(actor.name, name, keep=keep)
        await self.live.refresh()

    # -- holidays --------------------------------------------------------------------------
    async def add_holiday(
        self, actor: Actor, day: Any, name: Any, skill_group: Any = None, hours: Any = None
    ) -> HolidayRecord:
        self.require(actor, "holidays")
        if skill_group is not None and not isinstance(skill_group, str):
            raise InputError("skill_group: a group's name, or null for every group")
        if hours is not None:
            check_hours(hours)
        made = await self.settings.add_holiday(
            actor.name, day, name, skill_group=skill_group or None, hours=hours
        )
        await self.live.refresh()
        return made

    async def delete_holiday(self, actor: Actor, holiday_id: int) -> None:
        self.require(actor, "holidays")
        await self.settings.delete_holiday(actor.name, holiday_id)
        await self.live.refresh()

    # -- canned responses ------------------------------------------------------------------
    async def add_canned(self, actor: Actor, language: Any, title: Any, text: Any) -> CannedRecord:
        self.require(actor, "canned")
        made = await self.settings.add_canned(actor.name, language, title, text)
        await self.live.refresh()
        return made

    async def update_canned(
        self, actor: Actor, canned_id: int, title: Any, text: Any
    ) -> CannedRecord:
        self.require(actor, "canned")
        made = await self.settings.update_canned(actor.name, canned_id, title=title, text=text)
        await self.live.refresh()
        return made

    async def delete_canned(self, actor: Actor, canned_id: int) -> None:
        self.require(actor, "canned")
        await self.settings.delete_canned(actor.name, canned_id)
        await self.live.refresh()

    # -- the log ---------------------------------------------------------------------------
    async def audit_log(
        self, actor: Actor, *, limit: int = 100, before_id: int | None = None
    ) -> list[AuditRecord]:
        self.require(actor, "audit")
        return await self.audit.entries(limit=limit, before_id=before_id)
