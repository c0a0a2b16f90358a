"""Turns whose process died before they finished, on SQLite and PostgreSQL, through the real
engine (real model, knowledge base, store and templates). A dead turn is what a kill -9 between
the two transactions of a turn leaves: `turns.begin` stored the message, no `turns.finish` came."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from itertools import groupby
from pathlib import Path

import pytest
from redis import asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import clock
from bot.clock import SimulatedClock, use_clock
from bot.config import Config, RecoverySettings, config_from_dict
from bot.coordination import RedisTurnLocks
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.recovery import TurnRecovery
from bot.knowledge.base import KnowledgeBase
from bot.nlu.pipeline import NLUPipeline
from bot.store.sql_store import SqlStore
from bot.store.tables import MSG
from bot.store.turns import TurnStart
from tests import index_cache
from tests.bot.dialogue.conftest import OPEN_HOURS, build_engine
from tests.bot.store.conftest import PG_ADMIN, _pg_admin
from tests.bot.test_coordination import REDIS
from tests.conftest import REPO

SETTINGS = RecoverySettings(after_seconds=15, max_attempts=3)


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory, trained: NLUPipeline) -> KnowledgeBase:
    raw = _config(REPO).model_dump(exclude={"base_dir"})
    raw["pipeline"] = [{"name": "LanguageDetector"}]
    tmp = tmp_path_factory.mktemp("kb")
    raw["knowledge"].update(index_path=str(tmp / "idx"), history_db=str(tmp / "h.db"))
    embed = trained.component("SentenceEmbeddingFeaturizer")
    config = config_from_dict(raw, base_dir=str(REPO))
    index_cache.seed(config, embed.embedder)  # the run's index of these settings, copied
    base = KnowledgeBase(config, embedder=embed.embedder)
    base.open()
    return base


@pytest.fixture
def sim() -> Iterator[SimulatedClock]:
    """The store's clock, moved by hand: a dead turn becomes old enough to sweep at once."""
    with use_clock(SimulatedClock(clock.real_now())) as source:
        yield source


async def _database(kind: str, tmp_path: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'relaydesk.db'}", None
    name = f"relaydesk_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", name


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    database, name = await _database(request.param, tmp_path)
    yield database
    if name is not None:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _config(tmp_path: Path) -> Config:
    return config_from_dict({"pipeline": [{"name": "LanguageDetector"}]}, base_dir=str(tmp_path))


async def make_engine(
    url: str, tmp_path: Path, trained: NLUPipeline, kb: KnowledgeBase
) -> DialogueEngine:
    store = await SqlStore.open(url)
    return build_engine(
        store,
        trained,
        kb,
        tmp_path,
        clock=lambda: OPEN_HOURS,
        max_turn_attempts=SETTINGS.max_attempts,
    )


@pytest.fixture
async def engine(
    url: str,
    tmp_path: Path,
    trained: NLUPipeline,
    kb: KnowledgeBase,
) -> AsyncIterator[DialogueEngine]:
    made = await make_engine(url, tmp_path, trained, kb)
    yield made
    await made.store.close()


async def dead_turn(engine: DialogueEngine, sender: str, text: str, mid: str) -> TurnStart:
    """The message is stored, then the process dies before the turn's outcome is."""
    return await engine.store.turns.begin("rest", sender, text, external_id=mid)


async def tries(engine: DialogueEngine, message_id: int) -> int:
    def work(s: Session) -> int:
        query = select(MSG.c.turn_attempts).where(MSG.c.id == message_id)
        return int(s.execute(query).scalar_one())

    return await engine.store.db.run(work)


async def test_a_message_sent_again_after_its_turn_died_is_answered_then(
    engine: DialogueEngine,
) -> None:
    start = await dead_turn(engine, "ann", "满多少钱包邮啊", "m1")
    again = await engine.handle("rest", "ann", "满多少钱包邮啊", external_id="m1")
    assert not again.duplicate and again.kb_article is not None
    assert again.replies and "99" in again.replies[-1].text
    messages = await engine.store.messages.of(start.conversation.id)
    assert [x.sender for x in messages] == ["customer"] + ["bot"] * len(again.replies)
    assert messages[0].parse is not None and messages[0].parse["intent"]["name"]
    assert list(again.seqs) == [x.seq for x in messages[1:]]
    # Once finished, the next copy is the plain duplicate it always was: nothing said twice.
    third = await engine.handle("rest", "ann", "满多少钱包邮啊", external_id="m1")
    assert third.duplicate and third.replies == ()
    assert len(await engine.store.messages.of(start.conversation.id)) == len(messages)
    assert await tries(engine, start.inbound.id) == 1


async def test_the_sweeper_finishes_old_dead_turns_in_order_and_leaves_young_ones(
    engine: DialogueEngine, sim: SimulatedClock
) -> None:
    first = await dead_turn(engine, "bob", "你好", "b1")
    second = await dead_turn(engine, "bob", "退货运费谁出", "b2")
    sweeper = TurnRecovery(engine, SETTINGS)
    assert await sweeper.sweep() == 0  # seconds old: their first run may still be going
    sim.advance(20)
    assert await sweeper.sweep() == 2
    messages = await engine.store.messages.of(first.conversation.id)
    customer = [x for x in messages if x.sender == "customer"]
    assert [x.id for x in customer] == [first.inbound.id, second.inbound.id]
    assert all(x.parse is not None for x in customer)
    # The replies come after everything stored, the greeting's before the question's.
    assert [k for k, _ in groupby(x.sender for x in messages)] == ["customer", "bot"]
    replies = [x.text for x in messages if x.sender == "bot"]
    assert "风筝数码" in replies[0] and "风筝数码" not in replies[-1]
    assert await sweeper.sweep() == 0  # nothing left, and nothing answered twice
    assert len(await engine.store.messages.of(first.conversation.id)) == len(messages)


async def test_in_a_conversation_a_person_holds_recovery_only_stores_the_parse(
    engine: DialogueEngine, sim: SimulatedClock
) -> None:
    await engine.store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    queued = await engine.handle("rest", "cat", "转人工")
    assert queued.status == "queued"
    before = await engine.store.messages.of(queued.conversation_id)
    dead = await dead_turn(engine, "cat", "还要等多久", "c2")
    sim.advance(20)
    assert await TurnRecovery(engine, SETTINGS).sweep() == 1
    after = await engine.store.messages.of(queued.conversation_id)
    assert len(after) == len(before) + 1  # the customer's message, and no bot reply
    assert after[-1].id == dead.inbound.id and after[-1].parse is not None
    assert (await engine.store.conversations.get(queued.conversation_id)).status == "queued"


async def test_a_turn_that_keeps_failing_is_handed_to_a_person_not_tried_forever(
    url: str,
    tmp_path: Path,
    trained: NLUPipeline,
    kb: KnowledgeBase,
    sim: SimulatedClock,
) -> None:
    engine = await make_engine(url, tmp_path, trained, kb)
    try:
        await engine.store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
        # A real fault: the order system's table is gone, so every order look-up raises.
        with sqlite3.connect(tmp_path / "orders.db") as orders:
            orders.execute("DROP TABLE orders")
        text = "我的订单202611180042到哪了"
        with pytest.raises(sqlite3.OperationalError):
            await engine.handle("rest", "dan", text, external_id="d1")
        sweeper = TurnRecovery(engine, SETTINGS)
        sim.advance(20)
        for expected_tries in (1, 2):  # tried again, and failing again: still the bot's
            assert await sweeper.sweep() == 0
            assert await engine.store.handoffs.views(statuses=("queued",)) == []
            customer = await engine.store.customers.for_identity("rest", "dan")
            [message] = await engine.store.messages.of_customer(customer.id)
            assert message.parse is None
            assert await tries(engine, message.id) == expected_tries
        assert await sweeper.sweep() == 1  # the third try fails too: a person takes over
        [view] = await engine.store.handoffs.views(statuses=("queued",))
        assert view["reason"] == "bot_error"
        messages = await engine.store.messages.of(message.conversation_id)
        assert messages[0].parse is not None
        assert messages[0].parse["turn"]["failed"] and messages[0].parse["turn"]["attempts"] == 3
        assert "no such table" in messages[0].parse["turn"]["error"]
        assert [x.sender for x in messages[1:]] == ["bot"]  # "you are number 1 in line"
        assert await sweeper.sweep() == 0  # and it is never tried again
        assert await tries(engine, message.id) == 3
    finally:
        await engine.store.close()


async def test_a_message_that_kills_its_process_every_time_is_handed_over_too(
    engine: DialogueEngine, sim: SimulatedClock
) -> None:
    """A try that never returns (its process killed) is counted as well: after the last one
    the conversation goes to a person without running the turn again."""
    await engine.store.agents.add("ida", "Ida", skills=["after_sales"], status="online")
    dead = await dead_turn(engine, "eve", "退款多久到账", "e1")
    for _ in range(SETTINGS.max_attempts):  # each try counted, then its process died
        assert await engine.unfinished.attempt(dead.inbound.id) is not None
    sim.advance(20)
    assert await TurnRecovery(engine, SETTINGS).sweep() == 1
    messages = await engine.store.messages.of(dead.conversation.id)
    assert messages[0].parse == {
        "turn": {"failed": True, "error": "the turn never finished", "attempts": 4}
    }
    assert (await engine.store.conversations.get(dead.conversation.id)).status == "queued"


async def test_two_sweepers_on_one_database_finish_each_turn_once(
    tmp_path: Path,
    trained: NLUPipeline,
    kb: KnowledgeBase,
    sim: SimulatedClock,
) -> None:
    """Two instances (two engines, each with its own store, on one PostgreSQL database, with
    their turn locks in Redis) sweep the same dead turns at the same moment."""
    database, name = await _database("postgresql", tmp_path)
    redis = aioredis.from_url(REDIS)
    engines: list[DialogueEngine] = []
    try:
        for n in ("a", "b"):
            (tmp_path / n).mkdir()
            made = await make_engine(database, tmp_path / n, trained, kb)
            made.locks = RedisTurnLocks(redis)
            engines.append(made)
        a, b = engines
        customers = [f"race-{uuid.uuid4().hex[:8]}-{i}" for i in range(6)]
        dead = []
        for i, who in enumerate(customers):
            dead.append(await dead_turn(a, who, "你好", f"{who}-1"))
            if i % 2:  # some customers said two things before the instance died
                dead.append(await dead_turn(a, who, "满多少包邮", f"{who}-2"))
        sim.advance(20)
        done = await asyncio.gather(
            TurnRecovery(a, SETTINGS).sweep(), TurnRecovery(b, SETTINGS).sweep()
        )
        assert sum(done) == len(dead)
        for start in dead:
            assert await tries(a, start.inbound.id) == 1  # run once, by one of the two
        for who in customers:
            customer = await a.store.customers.for_identity("rest", who)
            messages = await a.store.messages.of_customer(customer.id)
            said = [x.text for x in messages if x.sender == "customer"]
            replies = [x for x in messages if x.sender == "bot"]
            # Every customer message answered exactly once: one greeting back, and one
            # knowledge answer for the customers who asked the question too.
            assert sum("风筝数码" in x.text for x in replies) == 1, replies
            assert sum(x.kb_article_id is not None for x in replies) == len(said) - 1
            assert [x.seq for x in messages] == list(range(1, len(messages) + 1))
        assert await TurnRecovery(b, SETTINGS).sweep() == 0
    finally:
        for made in engines:
            await made.store.close()
        await redis.aclose()
        if name is not None:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_recovery_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="after_seconds"):
        RecoverySettings(after_seconds=0)
    with pytest.raises(ValueError, match="max_attempts"):
        RecoverySettings(max_attempts=0)
    assert RecoverySettings() == RecoverySettings(
        enabled=True, interval_seconds=5, after_seconds=15, max_attempts=3
    )
