"""Opens the database named by `storage.url` and brings its schema up to date.

`sqlite:///var/relaydesk.db` (relative to config.yml) runs on aiosqlite in WAL mode;
`postgresql://user@host/db` runs on asyncpg. Migrations are Alembic's, applied at start-up.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def async_url(url: str, base_dir: str | Path = ".") -> str:
    """Turn a config URL into one with an async driver; relative SQLite paths resolve
    against the config file's folder."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_absolute():
            database = str((Path(base_dir) / database).resolve())
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        return str(parsed.set(drivername="sqlite+aiosqlite", database=database))
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"storage.url: unsupported database {backend!r}; use sqlite or postgresql")


def create_engine(url: str, base_dir: str | Path = ".") -> AsyncEngine:
    full = async_url(url, base_dir)
    if full.startswith("sqlite"):
        engine = create_async_engine(full, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL: readers never block the writer; a committed message survives a crash.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(full, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Apply every pending migration (a no-op when the schema is current)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
