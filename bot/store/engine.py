"""Opens the database named by `storage.url`, brings its schema up to date, and runs the store's
transactions on it.

Every store operation is one plain (synchronous) SQLAlchemy function of a `Session`, so the same
code serves both back ends; what differs is only where it runs:

- `sqlite:///var/relaydesk.db` (relative to config.yml): SQLAlchemy's pysqlite engine in WAL
  mode, on one dedicated thread. One thread hop per transaction instead of one per statement
  (aiosqlite's model) cut a bot turn's database time about fourfold, and one writer per process
  means concurrent turns never meet SQLite's busy-wait back-off.
- `postgresql://user@host/db`: asyncpg through SQLAlchemy's asyncio extension; the function
  runs in the session's greenlet (`AsyncSession.run_sync`), each statement awaited on the loop.

Migrations are Alembic's, applied at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from bot.errors import StoreUnavailableError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
T = TypeVar("T")
# Pauses between tries of a transaction while PostgreSQL is unreachable: a restart or a
# fail-over of a second or two is ridden out; anything longer is StoreUnavailableError (503).
RECONNECT_S = (0.0, 0.2, 0.5, 1.0)
CONNECT_TIMEOUT_S = 5.0
# SQLSTATE classes that mean "no usable connection": 08 connection exception, 57P operator
# intervention (the server is shutting down or starting up).
_CONNECTION_STATES = ("08", "57P")


class Database(Protocol):
    """Where the store's transactions run. `run(fn)` calls `fn(session)` and returns its
    result; `fn` commits what it wants kept (anything uncommitted is rolled back)."""

    dialect: str

    async def run(self, fn: Callable[[Session], T]) -> T: ...

    async def migrate(self) -> None: ...

    async def close(self) -> None: ...


def sqlite_path(url: str, base_dir: str | Path = ".") -> str | None:
    """The database file a SQLite URL names (relative paths resolve against the config file's
    folder), or None for an in-memory database."""
    database = make_url(url).database or ""
    if not database or database == ":memory:":
        return None
    return str((Path(base_dir) / database).resolve())


def open_database(url: str, base_dir: str | Path = ".") -> Database:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return SqliteDatabase(sqlite_path(url, base_dir))
    if backend == "postgresql":
        return PostgresDatabase(url)
    raise ValueError(f"storage.url: unsupported database {backend!r}; use sqlite or postgresql")


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, path: str | None) -> None:
        self.path = path
        if path is None:  # in memory: one connection, or every checkout is a new empty database
            self.engine: Engine = create_sync_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_sync_engine(
                f"sqlite:///{path}",
                connect_args={"timeout": 30, "check_same_thread": False},
                pool_size=1,
                max_overflow=0,
            )
        event.listen(self.engine, "connect", _sqlite_pragmas)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="relaydesk-sqlite")

    def _call(self, fn: Callable[[Session], T]) -> T:
        with Session(self.engine, expire_on_commit=False) as s:
            return fn(s)

    async def run(self, fn: Callable[[Session], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._call, fn)

    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            _upgrade(conn)

    async def migrate(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._migrate)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self.engine.dispose)
        self._thread.shutdown(wait=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer. NORMAL: a committed message survives a crash of
    # the process (not of the machine's power, which would cost FULL's fsync on every commit).
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")  # another process (the CLI) writing meanwhile
    cur.close()


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        full = make_url(url).set(drivername="postgresql+asyncpg")
        # No pre-ping: it costs a round trip on every transaction. A connection the server
        # dropped (a restart, a failover) is noticed on first use instead, and `run` retries.
        # A connect that hangs (a host gone from the network) gives up after a few seconds
        # rather than asyncpg's default minute, so a request answers 503 instead of hanging.
        self.engine: AsyncEngine = create_async_engine(
            full,
            pool_size=10,
            max_overflow=20,
            pool_recycle=1800,
            connect_args={"timeout": CONNECT_TIMEOUT_S},
        )

    async def run(self, fn: Callable[[Session], T]) -> T:
        for pause in RECONNECT_S:
            if pause:
                await asyncio.sleep(pause)
            try:
                async with AsyncSession(self.engine, expire_on_commit=False) as s:
                    return await s.run_sync(fn)
            except Exception as exc:
                # The pool has discarded a dead connection; a transaction cut off before its
                # commit left nothing behind, and a refused connect sent nothing, so it is
                # safe to run it again.
                if not _connection_lost(exc):
                    raise
                log.info("database unreachable (%s); trying again", _reason(exc))
                last = exc
        raise StoreUnavailableError(
            f"the database is unreachable ({_reason(last)}); try again shortly"
        ) from last

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def close(self) -> None:
        await self.engine.dispose()


def _connection_lost(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached (as opposed to a statement that
    failed): refused or timed-out connects, connections the server closed, and asyncpg's own
    connection errors, raised while connecting before SQLAlchemy can wrap them."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    state = getattr(exc, "sqlstate", None)
    return isinstance(state, str) and state.startswith(_CONNECTION_STATES)


def _reason(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return f"{type(orig).__name__}: {orig}"


async def run_retrying(db: Database, fn: Callable[[Session], T], attempts: int = 3) -> T:
    """Run `fn`, again if a concurrent writer (another process) won a unique-key race: the next
    attempt finds what they stored (a customer created on first contact, a redelivered message)."""
    for attempt in range(attempts):
        try:
            return await db.run(fn)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
