"""Fixtures of the fault tests: the session's trained model and one knowledge index for every
server they start, private PostgreSQL and Redis servers that are always stopped again, and a
pair of instances on one database and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from bot.config import Config, config_from_dict
from bot.nlu.pipeline import NLUPipeline, train_model
from tests import index_cache
from tests.kit.processes import PrivatePostgres, PrivateRedis, Unavailable
from tests.kit.servers import Instance, instance_pair, write_config
from tests.kit.telegram import TOKEN
from tests.prereqs import missing
from tests.standins.telegram_api import TelegramStandIn


@pytest.fixture(scope="session")
def model_dir(repo_config: Config, trained: NLUPipeline) -> Path:
    """The folder of the session's model (trained once; this finds it by its fingerprint)."""
    info, _ = train_model(repo_config)
    return info.path


@pytest.fixture(scope="session")
def fault_kb(
    tmp_path_factory: pytest.TempPathFactory, repo_config: Config, trained: NLUPipeline
) -> Path:
    """The knowledge index, ready before any server starts (a copy of the run's index of the
    shipped articles), so servers started side by side only read it."""
    folder = tmp_path_factory.mktemp("fault-kb")
    raw = repo_config.model_dump(exclude={"base_dir"})
    raw["pipeline"] = repo_config.pipeline_spec()
    raw["knowledge"].update(index_path=str(folder / "kb-index"), history_db=str(folder / "kb.db"))
    embed = trained.component("SentenceEmbeddingFeaturizer")
    config = config_from_dict(raw, base_dir=repo_config.base_dir)
    index_cache.seed(config, embed.embedder if embed else None)
    return folder


S = TypeVar("S", PrivatePostgres, PrivateRedis)


async def _serve(make: Callable[[], S]) -> AsyncIterator[S]:
    """Start what `make` builds (a skip, or under CI a failure, if the machine lacks it), and
    always stop it again."""
    try:
        server = make()
    except Unavailable as exc:
        missing(str(exc))
    try:
        await server.start()
        yield server
    finally:
        await server.close()


@pytest.fixture
async def private_pg() -> AsyncIterator[PrivatePostgres]:
    async for pg in _serve(PrivatePostgres):
        yield pg


class PgServer(Protocol):
    async def __call__(
        self, name: str, *, env: dict[str, str] | None = None, **sections: Any
    ) -> tuple[Instance, str]: ...


@pytest.fixture
def pg_server(
    private_pg: PrivatePostgres,
    repo_config: Config,
    model_dir: Path,
    fault_kb: Path,
    tmp_path: Path,
) -> PgServer:
    """What every outage test starts from: a `relaydesk run` (not started yet) on a new database
    of the private PostgreSQL, `sections` merged over its config; with the database's URL."""

    async def make(
        name: str, *, env: dict[str, str] | None = None, **sections: Any
    ) -> tuple[Instance, str]:
        url = await private_pg.create_database("relaydesk")
        config = write_config(
            repo_config, tmp_path / name, storage_url=url, kb_dir=fault_kb, **sections
        )
        return Instance(name, config, model_dir, env=env), url

    return make


@pytest.fixture
async def tg() -> AsyncIterator[TelegramStandIn]:
    """The Telegram Bot API stand-in, for the bot token the fault configs name."""
    async with TelegramStandIn(token=TOKEN) as standin:
        yield standin


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    async for redis in _serve(PrivateRedis):
        yield redis


@pytest.fixture
def pair(
    repo_config: Config,
    tmp_path: Path,
    model_dir: Path,
    database: str,
    private_redis: PrivateRedis,
    fault_kb: Path,
) -> tuple[Instance, Instance]:
    """Instances "a" and "b" (not started yet) on the test's PostgreSQL database and its private
    Redis, each with a folder of its own."""
    return instance_pair(
        repo_config,
        tmp_path,
        model_dir,
        storage_url=database,
        redis_url=private_redis.url,
        kb_dir=fault_kb,
    )
