"""Who did what to a knowledge article under review, and when: contributed (a draft saved from a
conversation), revised (a change proposed to a published article), edited, submitted, approved
(published), rejected with a reason, or discarded.

The Markdown files under knowledge/ stay the source of truth for the text; they cannot say who
wrote or reviewed it, and a git history is not what a supervisor reads. These rows are that
record, and the per-agent monthly counts on the dashboard are computed from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.store import models as m
from bot.store.engine import Database

ACTIONS = (
    "contributed",
    "revised",
    "edited",
    "submitted",
    "approved",
    "rejected",
    "discarded",
)
DECISIONS = ("approved", "rejected")
MAX_REASON_CHARS = 2000
MAX_TITLE_CHARS = 300


@dataclass(frozen=True)
class KnowledgeEventRecord:
    id: int
    article_id: str
    action: str
    username: str
    author: str | None
    version: int | None
    title: str
    reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class MonthlyCounts:
    """One agent's month: drafts and revisions contributed, review decisions made, and their
    own contributions that were published."""

    month: str  # YYYY-MM
    username: str
    contributed: int = 0
    reviewed: int = 0
    published: int = 0


class KnowledgeEvents(Protocol):
    async def record(
        self,
        article_id: str,
        action: str,
        *,
        agent_id: str | None,
        username: str,
        title: str,
        version: int | None = None,
        author: str | None = None,
        reason: str | None = None,
    ) -> KnowledgeEventRecord:
        """Append one step; InputError for an unknown action or an overlong reason."""
        ...

    async def of(self, article_id: str) -> list[KnowledgeEventRecord]:
        """The article's steps, oldest first."""
        ...

    async def latest(self, article_ids: Iterable[str]) -> dict[str, list[KnowledgeEventRecord]]:
        """The steps of each of these articles, oldest first (for the review list)."""
        ...

    async def monthly(self, start: datetime, end: datetime) -> list[MonthlyCounts]:
        """Counts per agent and month of the steps in [start, end), by month then username."""
        ...


class SqlKnowledgeEvents:
    """`KnowledgeEvents` over the store's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        article_id: str,
        action: str,
        *,
        agent_id: str | None,
        username: str,
        title: str,
        version: int | None = None,
        author: str | None = None,
        reason: str | None = None,
    ) -> KnowledgeEventRecord:
        if action not in ACTIONS:
            raise InputError(f"action {action!r}; one of {', '.join(ACTIONS)}")
        if reason is not None and len(reason) > MAX_REASON_CHARS:
            raise InputError(f"reason over {MAX_REASON_CHARS} characters")

        def work(s: Session) -> KnowledgeEventRecord:
            row = m.KnowledgeEvent(
                article_id=article_id,
                action=action,
                agent_id=agent_id,
                username=username,
                author=author,
                version=version,
                title=title[:MAX_TITLE_CHARS],
                reason=reason,
            )
            s.add(row)
            s.commit()
            return _record(row)

        return await self.db.run(work)

    async def of(self, article_id: str) -> list[KnowledgeEventRecord]:
        return (await self.latest([article_id])).get(article_id, [])

    async def latest(self, article_ids: Iterable[str]) -> dict[str, list[KnowledgeEventRecord]]:
        ids = sorted(set(article_ids))
        if not ids:
            return {}

        def work(s: Session) -> dict[str, list[KnowledgeEventRecord]]:
            out: dict[str, list[KnowledgeEventRecord]] = {}
            for i in range(0, len(ids), 500):  # bounded IN lists on both back ends
                rows = s.scalars(
                    select(m.KnowledgeEvent)
                    .where(m.KnowledgeEvent.article_id.in_(ids[i : i + 500]))
                    .order_by(m.KnowledgeEvent.id)
                )
                for r in rows:
                    out.setdefault(r.article_id, []).append(_record(r))
            return out

        return await self.db.run(work)

    async def monthly(self, start: datetime, end: datetime) -> list[MonthlyCounts]:
        def work(s: Session) -> list[tuple[str, str, str | None, datetime]]:
            rows = s.execute(
                select(
                    m.KnowledgeEvent.action,
                    m.KnowledgeEvent.username,
                    m.KnowledgeEvent.author,
                    m.KnowledgeEvent.created_at,
                ).where(
                    m.KnowledgeEvent.created_at >= start,
                    m.KnowledgeEvent.created_at < end,
                    m.KnowledgeEvent.action.in_(("contributed", "revised", *DECISIONS)),
                )
            )
            return [(a, u, au, t) for a, u, au, t in rows]

        # Grouped here rather than in SQL: month truncation differs between SQLite and
        # PostgreSQL, and a team's review steps are a few thousand rows a month at most.
        counts: dict[tuple[str, str], dict[str, int]] = {}

        def bump(month: str, username: str, key: str) -> None:
            cell = counts.setdefault((month, username), {})
            cell[key] = cell.get(key, 0) + 1

        for action, username, author, at in await self.db.run(work):
            month = f"{at:%Y-%m}"
            if action in ("contributed", "revised"):
                bump(month, username, "contributed")
            else:
                bump(month, username, "reviewed")
                if action == "approved" and author:
                    bump(month, author, "published")
        return [
            MonthlyCounts(month, username, **cell)
            for (month, username), cell in sorted(counts.items())
        ]


def _record(row: m.KnowledgeEvent) -> KnowledgeEventRecord:
    return KnowledgeEventRecord(
        row.id,
        row.article_id,
        row.action,
        row.username,
        row.author,
        row.version,
        row.title,
        row.reason,
        row.created_at,
    )
