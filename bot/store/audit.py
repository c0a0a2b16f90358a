"""The administration audit log: who changed which account or setting, when, and from what to
what. Entries are written inside the transaction of the change they describe (`record`), so a
change without its entry, or an entry without its change, cannot be committed. Nothing here
deletes or edits an entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import clock
from bot.store import models as m
from bot.store.engine import Database
from bot.store.tables import utc

MAX_PAGE = 500


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    changes: dict[str, Any]


def record(s: Session, actor: str, action: str, target: str, changes: dict[str, Any]) -> None:
    """Add one entry to the caller's transaction (committed with the change)."""
    s.add(
        m.AuditEntry(
            at=clock.now(), actor=actor[:64], action=action, target=target[:200], changes=changes
        )
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """{"field": [old, new]} for the fields that differ."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def _audit_record(row: m.AuditEntry) -> AuditRecord:
    return AuditRecord(
        row.id, utc(row.at) or row.at, row.actor, row.action, row.target, dict(row.changes or {})
    )


class SqlAuditLog:
    """Reading the log, newest first."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def entries(
        self, *, limit: int = 100, before_id: int | None = None, target: str | None = None
    ) -> list[AuditRecord]:
        """Up to `limit` entries older than `before_id` (paging), about `target` if given."""
        limit = max(1, min(limit, MAX_PAGE))

        def work(s: Session) -> list[AuditRecord]:
            q = select(m.AuditEntry).order_by(m.AuditEntry.id.desc()).limit(limit)
            if before_id is not None:
                q = q.where(m.AuditEntry.id < before_id)
            if target is not None:
                q = q.where(m.AuditEntry.target == target)
            return [_audit_record(r) for r in s.scalars(q)]

        return await self.db.run(work)
