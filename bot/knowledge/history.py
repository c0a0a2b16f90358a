"""Every published version of every article, kept so nobody has to wonder which text a customer
saw: the answer records (id, version), and this store returns that version's text.

SQLite from the standard library: the history is small, local to the knowledge base, and must
survive restarts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bot.knowledge.article import Article

_SCHEMA = """
CREATE TABLE IF NOT EXISTS article_versions (
    article_id   TEXT NOT NULL,
    version      INTEGER NOT NULL,
    updated      TEXT NOT NULL,
    status       TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    content      TEXT NOT NULL,
    recorded_at  REAL NOT NULL,
    note         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (article_id, version)
)
"""


@dataclass(frozen=True)
class VersionRecord:
    article_id: str
    version: int
    updated: str
    status: str
    content_hash: str
    recorded_at: float
    note: str
    content: dict[str, object]


class VersionConflict(Exception):
    """An article's text changed but its version number did not."""


class History:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def record(self, article: Article, note: str = "") -> bool:
        """Store this version once; True when it was new. Raises VersionConflict when the same
        version number was recorded with other content."""
        row = self._db.execute(
            "SELECT content_hash FROM article_versions WHERE article_id=? AND version=?",
            (article.id, article.version),
        ).fetchone()
        if row is not None:
            if row[0] != article.content_hash:
                raise VersionConflict(
                    f"{article.path or article.id}: the content changed but version is still "
                    f"{article.version}; bump the version (or publish through relaydesk)"
                )
            return False
        self._db.execute(
            "INSERT INTO article_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                article.id,
                article.version,
                article.updated.isoformat(),
                article.status,
                article.content_hash,
                json.dumps(article.to_dict(), ensure_ascii=False),
                time.time(),
                note,
            ),
        )
        return True

    def versions(self, article_id: str) -> list[VersionRecord]:
        rows = self._db.execute(
            "SELECT article_id, version, updated, status, content_hash, recorded_at, note, content"
            " FROM article_versions WHERE article_id=? ORDER BY version",
            (article_id,),
        ).fetchall()
        return [
            VersionRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7])) for r in rows
        ]

    def get(self, article_id: str, version: int) -> VersionRecord | None:
        for rec in self.versions(article_id):
            if rec.version == version:
                return rec
        return None

    def latest_version(self, article_id: str) -> int:
        row = self._db.execute(
            "SELECT MAX(version) FROM article_versions WHERE article_id=?", (article_id,)
        ).fetchone()
        return int(row[0] or 0)
