"""The settings administrators change in the console: skill groups with their service hours,
holidays, and canned responses. config.yml and canned.yml seed these tables on the first start
(`seed`); after that the database is the source, and the files are only read again for a fresh
database.

Every change runs in one transaction that also writes its audit entry (bot/store/audit.py) and
bumps `admin_state.version`; each instance polls that one integer (bot/store/live_settings.py)
and reloads the snapshot when it moved, so a change reaches routing everywhere within seconds
and without a restart.

Roles (who may change what) are the handoff side's (handoff/console/administration.py); this
module checks that what is written is well-formed, so the CLI and the console cannot store
different shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import clock
from bot.config import SkillGroup
from bot.errors import InputError
from bot.store import models as m
from bot.store.audit import diff, record
from bot.store.engine import Database
from bot.store.errors import NotFoundError

GROUP_NAME = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):([0-5]\d)|24:00)$")
LANGUAGES = ("zh", "en")
MAX_TITLE_CHARS = 100
MAX_CANNED_CHARS = 2000
MAX_CANNED_PER_LANGUAGE = 200
MAX_GROUPS = 50
MAX_LIST_ITEMS = 100


@dataclass(frozen=True)
class HolidayRecord:
    id: int
    day: str  # YYYY-MM-DD in the service's time zone
    skill_group: str | None  # None: every group
    name: str
    hours: str | None  # None: closed all day; else that day's hours instead of the usual


@dataclass(frozen=True)
class CannedRecord:
    id: int
    language: str
    title: str
    text: str
    position: int


@dataclass(frozen=True)
class AdminSnapshot:
    """Everything routing and the console read, as of one settings version."""

    version: int
    groups: dict[str, SkillGroup] = field(default_factory=dict)  # in routing order
    holidays: tuple[HolidayRecord, ...] = ()
    canned: tuple[CannedRecord, ...] = ()

    def canned_by_language(self) -> dict[str, list[dict[str, Any]]]:
        """{"zh": [{"id", "title", "text"}], "en": [...]}, as the console's picker wants it."""
        out: dict[str, list[dict[str, Any]]] = {lang: [] for lang in LANGUAGES}
        for c in self.canned:
            out.setdefault(c.language, []).append({"id": c.id, "title": c.title, "text": c.text})
        return out


def check_hours(value: str, what: str = "hours") -> str:
    """'HH:MM-HH:MM' with real times (24:00 only as an end); InputError otherwise."""
    if not isinstance(value, str) or not HOURS.match(value):
        raise InputError(f"{what}: HH:MM-HH:MM, e.g. 09:00-21:00 (24:00 as the end of the day)")
    start, end = value.split("-")
    if start == end:
        raise InputError(f"{what}: the start and the end are the same time")
    return value


def check_day(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat() if isinstance(value, str) else ""
    except ValueError as exc:
        raise InputError(f"day: a date as YYYY-MM-DD, not {value!r}") from exc


def skill_group(fields: Mapping[str, Any]) -> SkillGroup:
    """A SkillGroup from plain fields; InputError naming the field that is wrong."""
    for key in ("intents", "categories", "languages"):
        items = fields.get(key, [])
        if not isinstance(items, list) or len(items) > MAX_LIST_ITEMS:
            raise InputError(f"{key}: a list of at most {MAX_LIST_ITEMS} names")
        if any(not isinstance(i, str) or not 0 < len(i) <= 100 for i in items):
            raise InputError(f"{key}: each a name of 1 to 100 characters")
    if "hours" in fields:
        check_hours(fields["hours"])
    names = fields.get("display_name", {})
    if not isinstance(names, dict) or any(
        not isinstance(v, str) or len(v) > 100 for v in names.values()
    ):
        raise InputError("display_name: {zh: ..., en: ...}, each at most 100 characters")
    if "languages" in fields and not fields["languages"]:
        raise InputError("languages: at least one of zh, en")
    try:
        return SkillGroup.model_validate(dict(fields))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{where}: {first['msg']}") from exc


def group_fields(group: SkillGroup) -> dict[str, Any]:
    return {
        "intents": list(group.intents),
        "categories": list(group.categories),
        "languages": list(group.languages),
        "hours": group.hours,
        "display_name": dict(group.display_name),
    }


def _bump(s: Session) -> None:
    s.execute(
        update(m.AdminState).where(m.AdminState.id == 1).values(version=m.AdminState.version + 1)
    )


def _holiday(row: m.Holiday) -> HolidayRecord:
    return HolidayRecord(row.id, row.day, row.skill_group, row.name, row.hours)


def _canned(row: m.CannedResponse) -> CannedRecord:
    return CannedRecord(row.id, row.language, row.title, row.text, row.position)


def _check_canned(language: str, title: str, text: str) -> None:
    if language not in LANGUAGES:
        raise InputError("language: zh or en")
    if not isinstance(title, str) or not 0 < len(title.strip()) <= MAX_TITLE_CHARS:
        raise InputError(f"title: 1 to {MAX_TITLE_CHARS} characters")
    if not isinstance(text, str) or not 0 < len(text.strip()) <= MAX_CANNED_CHARS:
        raise InputError(f"text: 1 to {MAX_CANNED_CHARS} characters")


class SqlAdminSettings:
    """Skill groups, holidays and canned responses over the store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reading ---------------------------------------------------------------------------
    async def version(self) -> int:
        """The settings version (0 before the seed); cheap enough to poll every second."""

        def work(s: Session) -> int:
            return s.scalar(select(m.AdminState.version).where(m.AdminState.id == 1)) or 0

        return await self.db.run(work)

    async def snapshot(self) -> AdminSnapshot:
        def work(s: Session) -> AdminSnapshot:
            version = s.scalar(select(m.AdminState.version).where(m.AdminState.id == 1)) or 0
            groups = {
                r.name: SkillGroup.model_validate(
                    {
                        "intents": r.intents,
                        "categories": r.categories,
                        "languages": r.languages,
                        "hours": r.hours,
                        "display_name": r.display_name,
                    }
                )
                for r in s.scalars(
                    select(m.SkillGroupRow).order_by(m.SkillGroupRow.position, m.SkillGroupRow.name)
                )
            }
            holidays = tuple(
                _holiday(r) for r in s.scalars(select(m.Holiday).order_by(m.Holiday.day))
            )
            canned = tuple(
                _canned(r)
                for r in s.scalars(
                    select(m.CannedResponse).order_by(
                        m.CannedResponse.language, m.CannedResponse.position, m.CannedResponse.id
                    )
                )
            )
            return AdminSnapshot(version, groups, holidays, canned)

        return await self.db.run(work)

    # -- the seed --------------------------------------------------------------------------
    async def seed(
        self,
        groups: Mapping[str, SkillGroup],
        canned: Mapping[str, list[dict[str, str]]],
        *,
        source: str = "config.yml",
    ) -> bool:
        """Fill the tables from the files, once per database: True if this call did it. Safe
        when several instances start at once (the second one's insert of the state row fails
        and it leaves the tables as the first wrote them)."""

        def work(s: Session) -> bool:
            if s.get(m.AdminState, 1) is not None:
                return False
            s.add(m.AdminState(id=1, version=1, seeded_at=clock.now()))
            for position, (name, group) in enumerate(groups.items()):
                s.add(m.SkillGroupRow(name=name, position=position, **group_fields(group)))
            count = 0
            for language, items in canned.items():
                for position, item in enumerate(items):
                    s.add(
                        m.CannedResponse(
                            language=language,
                            title=item["title"][:MAX_TITLE_CHARS],
                            text=item["text"],
                            position=position,
                        )
                    )
                    count += 1
            record(
                s,
                source,
                "settings.seed",
                "settings",
                {"skill_groups": sorted(groups), "canned_responses": count},
            )
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return False
            return True

        return await self.db.run(work)

    # -- skill groups ----------------------------------------------------------------------
    async def put_group(self, actor: str, name: str, group: SkillGroup) -> bool:
        """Create or replace a group; True if it is new."""
        if not isinstance(name, str) or not GROUP_NAME.match(name):
            raise InputError(
                "name: 2 to 64 characters, lower-case letters, digits and _, starting with a letter"
            )

        def work(s: Session) -> bool:
            row = s.get(m.SkillGroupRow, name)
            after = group_fields(group)
            if row is None:
                if (s.scalar(select(func.count()).select_from(m.SkillGroupRow)) or 0) >= MAX_GROUPS:
                    raise InputError(f"at most {MAX_GROUPS} skill groups")
                last = s.scalar(select(func.max(m.SkillGroupRow.position)))
                s.add(m.SkillGroupRow(name=name, position=(last or 0) + 1, **after))
                record(s, actor, "group.add", f"group:{name}", after)
            else:
                before = {
                    "intents": row.intents,
                    "categories": row.categories,
                    "languages": row.languages,
                    "hours": row.hours,
                    "display_name": row.display_name,
                }
                changes = diff(before, after)
                if not changes:
                    return False
                for key, value in after.items():
                    setattr(row, key, value)
                row.updated_at = clock.now()
                record(s, actor, "group.update", f"group:{name}", changes)
            _bump(s)
            s.commit()
            return row is None

        return await self.db.run(work)

    async def delete_group(self, actor: str, name: str, *, keep: set[str]) -> None:
        """Remove a group, its holidays, and the skill from agents who had it. Refused for the
        groups in `keep` (the default and overflow groups) and while chats wait in it or are
        held in it."""
        if name in keep:
            raise InputError(
                f"{name!r} is the default or overflow group (config.yml handoff); it stays"
            )

        def work(s: Session) -> None:
            row = s.get(m.SkillGroupRow, name)
            if row is None:
                raise NotFoundError(f"no skill group {name!r}")
            busy = s.scalar(
                select(func.count())
                .select_from(m.Handoff)
                .where(m.Handoff.skill_group == name, m.Handoff.status.in_(("queued", "assigned")))
            )
            if busy:
                raise InputError(
                    f"{busy} chat(s) wait in or are held by {name!r}; transfer them first"
                )
            holidays = list(s.scalars(select(m.Holiday).where(m.Holiday.skill_group == name)))
            for h in holidays:
                s.delete(h)
            agents = []
            for agent in s.scalars(select(m.Agent)):
                if name in (agent.skills or []):
                    agent.skills = [k for k in agent.skills if k != name]
                    agents.append(agent.username)
            s.delete(row)
            record(
                s,
                actor,
                "group.delete",
                f"group:{name}",
                {"removed_from_agents": agents, "holidays_removed": len(holidays)},
            )
            _bump(s)
            s.commit()

        await self.db.run(work)

    # -- holidays --------------------------------------------------------------------------
    async def add_holiday(
        self, actor: str, day: str, name: str, *, skill_group: str | None, hours: str | None
    ) -> HolidayRecord:
        day = check_day(day)
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 100:
            raise InputError("name: 1 to 100 characters, e.g. 春节 / Spring Festival")
        if hours is not None:
            check_hours(hours)

        def work(s: Session) -> HolidayRecord:
            if skill_group is not None and s.get(m.SkillGroupRow, skill_group) is None:
                raise InputError(f"skill_group: no group {skill_group!r}")
            same = select(m.Holiday).where(m.Holiday.day == day)
            same = same.where(
                m.Holiday.skill_group.is_(None)
                if skill_group is None
                else m.Holiday.skill_group == skill_group
            )
            if s.scalar(same) is not None:
                raise InputError(f"{day} is already set for {skill_group or 'every group'}")
            row = m.Holiday(day=day, skill_group=skill_group, name=name.strip(), hours=hours)
            s.add(row)
            s.flush()
            record(
                s,
                actor,
                "holiday.add",
                f"holiday:{day}",
                {"name": row.name, "skill_group": skill_group, "hours": hours or "closed"},
            )
            _bump(s)
            s.commit()
            return _holiday(row)

        return await self.db.run(work)

    async def delete_holiday(self, actor: str, holiday_id: int) -> None:
        def work(s: Session) -> None:
            row = s.get(m.Holiday, holiday_id)
            if row is None:
                raise NotFoundError(f"no holiday {holiday_id}")
            record(
                s,
                actor,
                "holiday.delete",
                f"holiday:{row.day}",
                {"name": row.name, "skill_group": row.skill_group, "hours": row.hours or "closed"},
            )
            s.delete(row)
            _bump(s)
            s.commit()

        await self.db.run(work)

    # -- canned responses ------------------------------------------------------------------
    async def add_canned(self, actor: str, language: str, title: str, text: str) -> CannedRecord:
        _check_canned(language, title, text)

        def work(s: Session) -> CannedRecord:
            n = s.scalar(
                select(func.count())
                .select_from(m.CannedResponse)
                .where(m.CannedResponse.language == language)
            )
            if (n or 0) >= MAX_CANNED_PER_LANGUAGE:
                raise InputError(f"at most {MAX_CANNED_PER_LANGUAGE} canned responses a language")
            last = s.scalar(
                select(func.max(m.CannedResponse.position)).where(
                    m.CannedResponse.language == language
                )
            )
            row = m.CannedResponse(
                language=language, title=title.strip(), text=text.strip(), position=(last or 0) + 1
            )
            s.add(row)
            s.flush()
            record(
                s,
                actor,
                "canned.add",
                f"canned:{row.id}",
                {"language": language, "title": row.title, "text": row.text},
            )
            _bump(s)
            s.commit()
            return _canned(row)

        return await self.db.run(work)

    async def update_canned(
        self, actor: str, canned_id: int, *, title: str, text: str
    ) -> CannedRecord:
        def work(s: Session) -> CannedRecord:
            row = s.get(m.CannedResponse, canned_id)
            if row is None:
                raise NotFoundError(f"no canned response {canned_id}")
            _check_canned(row.language, title, text)
            after = {"title": title.strip(), "text": text.strip()}
            changes = diff({"title": row.title, "text": row.text}, after)
            if changes:
                row.title, row.text, row.updated_at = after["title"], after["text"], clock.now()
                record(s, actor, "canned.update", f"canned:{row.id}", changes)
                _bump(s)
                s.commit()
            return _canned(row)

        return await self.db.run(work)

    async def delete_canned(self, actor: str, canned_id: int) -> None:
        def work(s: Session) -> None:
            row = s.get(m.CannedResponse, canned_id)
            if row is None:
                raise NotFoundError(f"no canned response {canned_id}")
            record(
                s,
                actor,
                "canned.delete",
                f"canned:{row.id}",
                {"language": row.language, "title": row.title},
            )
            s.delete(row)
            _bump(s)
            s.commit()

        await self.db.run(work)
