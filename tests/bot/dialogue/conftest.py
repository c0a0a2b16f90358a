"""The dialogue engine on a fresh SQLite store, inside the agents' service hours, answering from
the sample knowledge base (a test module may bring another as its own `kb` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import config_from_dict
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.orders import SqliteOrderLookup
from bot.dialogue.policy import PolicySettings
from bot.dialogue.responses import Responses
from bot.knowledge.base import KnowledgeBase
from bot.nlu.pipeline import NLUPipeline
from bot.store.sql_store import SqlStore
from handoff.announcer import QueueAnnouncer
from handoff.routing import Router
from tests import index_cache
from tests.conftest import REPO


def sample_kb(tmp: Path, trained: NLUPipeline, **knowledge: Any) -> KnowledgeBase:
    """The sample articles indexed into `tmp`, with the NLU's embedder and `knowledge` settings
    changed as given."""
    base = config_from_dict({"pipeline": [{"name": "LanguageDetector"}]}, base_dir=str(REPO))
    raw = base.model_dump(exclude={"base_dir"})
    raw["pipeline"] = base.pipeline_spec()
    raw["knowledge"].update(index_path=str(tmp / "idx"), history_db=str(tmp / "h.db"), **knowledge)
    config = config_from_dict(raw, base_dir=str(REPO))
    embed = trained.component("SentenceEmbeddingFeaturizer")
    index_cache.seed(config, embed.embedder)  # the run's index of these settings, copied
    kb = KnowledgeBase(config, embedder=embed.embedder)
    kb.open()
    return kb


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory, trained: NLUPipeline) -> KnowledgeBase:
    return sample_kb(tmp_path_factory.mktemp("kb"), trained)


OPEN_HOURS = datetime(2026, 11, 24, 14, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def build_engine(
    store: SqlStore, trained: NLUPipeline, kb: KnowledgeBase, tmp: Path, **options: Any
) -> DialogueEngine:
    """The engine over `store` with the shipped templates (seeded), the default skill groups
    and policy, and the sample orders in `tmp`; `options`: the engine's keyword arguments."""
    config = config_from_dict({"pipeline": [{"name": "LanguageDetector"}]}, base_dir=str(tmp))
    responses = Responses.load(REPO / "responses.yml", seed=0)
    return DialogueEngine(
        store,
        trained,
        kb,
        responses,
        Router(config.handoff),
        SqliteOrderLookup(tmp / "orders.db"),
        PolicySettings(),
        announcer=QueueAnnouncer(store, responses),
        **options,
    )


@pytest.fixture
async def engine(
    tmp_path: Path, trained: NLUPipeline, kb: KnowledgeBase
) -> AsyncIterator[DialogueEngine]:
    store = await SqlStore.open("sqlite:///var/relaydesk.db", base_dir=tmp_path)
    yield build_engine(store, trained, kb, tmp_path, clock=lambda: OPEN_HOURS)
    await store.close()
