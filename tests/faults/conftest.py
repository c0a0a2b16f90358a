"""Fixtures of the fault tests: the session's trained model and one knowledge index for every
server they start, and private PostgreSQL and Redis servers that are always stopped again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Config, config_from_dict
from bot.knowledge.base import KnowledgeBase
from bot.nlu.pipeline import NLUPipeline, train_model
from tests.faults.cluster import PrivatePostgres, PrivateRedis


@pytest.fixture(scope="session")
def model_dir(repo_config: Config, trained: NLUPipeline) -> Path:
    """The folder of the session's model (trained once; this finds it by its fingerprint)."""
    info, _ = train_model(repo_config)
    return info.path


@pytest.fixture(scope="session")
def fault_kb(
    tmp_path_factory: pytest.TempPathFactory, repo_config: Config, trained: NLUPipeline
) -> Path:
    """The knowledge index, built here once, so servers started side by side only read it."""
    folder = tmp_path_factory.mktemp("fault-kb")
    raw = repo_config.model_dump(exclude={"base_dir"})
    raw["pipeline"] = repo_config.pipeline_spec()
    raw["knowledge"].update(index_path=str(folder / "kb-index"), history_db=str(folder / "kb.db"))
    embed = trained.component("SentenceEmbeddingFeaturizer")
    config = config_from_dict(raw, base_dir=repo_config.base_dir)
    KnowledgeBase(config, embedder=embed.embedder if embed else None).reindex()
    return folder


@pytest.fixture
async def private_pg() -> AsyncIterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        await pg.start()
        yield pg
    finally:
        await pg.close()


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis()
    try:
        await redis.start()
        yield redis
    finally:
        await redis.close()
