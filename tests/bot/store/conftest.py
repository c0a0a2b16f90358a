"""The store under test, on a fresh SQLite file and on a fresh PostgreSQL database each time: every
test that takes `store` is part of the repositories' contract and runs on both back ends."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.store.sql_store import SqlStore

PG_ADMIN = os.environ.get("RELAYDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """A new database on the machine's PostgreSQL, dropped afterwards even if connections stay."""
    name = f"relaydesk_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """The URL of a fresh PostgreSQL database: several app instances share it."""
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    if request.param == "sqlite":
        s = await SqlStore.open("sqlite:///db/relaydesk.db", base_dir=tmp_path)
        yield s
        await s.close()
        return
    async with fresh_pg_database() as url:
        s = await SqlStore.open(url)
        try:
            yield s
        finally:
            await s.close()
