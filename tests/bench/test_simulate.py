"""bench/simulate.py: a small month (60 conversations over three days) through the real
engine, the handoff service and the store, in a temporary SQLite database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bench.simulation import (
    SimulationSettings,
    SimulationSummary,
    load_lines,
    month_window,
    simulate,
)
from bot import clock
from bot.analytics.proactive import proactive_figures
from bot.analytics.summary import Period
from bot.config import Config
from bot.errors import InputError
from bot.nlu.pipeline import NLUPipeline
from bot.store.sql_store import SqlStore
from tests.conftest import server_config

SETTINGS = SimulationSettings("2026-11", conversations=60, seed=7, days=3)
SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 1, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Run:
    config: Config
    path: Path
    url: str
    summary: SimulationSummary


def _run(config: Config, nlu: NLUPipeline, path: Path, settings: SimulationSettings) -> Run:
    url = f"sqlite:///{path}"
    summary = asyncio.run(simulate(config, nlu, settings, database=url))
    return Run(config, path, url, summary)


@pytest.fixture(scope="module")
def sim_config(repo_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The shipped config with the knowledge index and the orders under a temporary folder."""
    tmp = tmp_path_factory.mktemp("simulate")
    return server_config(repo_config, tmp, tmp / "kb")


@pytest.fixture(scope="module")
def run(sim_config: Config, trained: NLUPipeline, tmp_path_factory: pytest.TempPathFactory) -> Run:
    path = tmp_path_factory.mktemp("month") / "simulated.db"
    return _run(sim_config, trained, path, SETTINGS)


def _rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchall()


def _at(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def test_every_channel_and_both_languages(run: Run) -> None:
    channels = dict(_rows(run.path, "SELECT channel, COUNT(*) FROM conversations GROUP BY 1"))
    assert set(channels) == {"web", "wechat", "telegram", "rest"}
    languages = dict(_rows(run.path, "SELECT language, COUNT(*) FROM conversations GROUP BY 1"))
    assert languages.get("zh", 0) > languages.get("en", 0) > 0
    total = sum(channels.values())
    assert total == len(run.summary.conversations)
    assert 45 <= total <= 75  # about the 60 asked for


def test_conversations_come_from_the_engine(run: Run) -> None:
    """Customer messages carry the engine's parse; the bot answered from the knowledge base."""
    parsed = _rows(
        run.path,
        "SELECT COUNT(*), SUM(parse IS NOT NULL) FROM messages WHERE sender = 'customer'",
    )[0]
    assert parsed[0] == parsed[1] == run.summary.customer_turns
    answered = _rows(run.path, "SELECT COUNT(*) FROM messages WHERE kb_article_id IS NOT NULL")
    assert answered[0][0] > 0
    senders = dict(_rows(run.path, "SELECT sender, COUNT(*) FROM messages GROUP BY 1"))
    assert senders.keys() == {"customer", "bot", "agent", "system"}
    assert senders["agent"] == run.summary.agent_messages


def test_handoffs_are_claimed_replied_and_resolved(run: Run) -> None:
    handoffs = _rows(
        run.path,
        "SELECT status, reason, queued_at, assigned_at, first_agent_reply_at, resolved_at "
        "FROM handoffs",
    )
    statuses = Counter(h[0] for h in handoffs)
    assert statuses["resolved"] > 0
    assigned = [h for h in handoffs if h[3] is not None]
    assert assigned and all(h[4] is not None for h in assigned)  # every claim got a reply
    for h in assigned:
        assert _at(h[2]) <= _at(h[3]) <= _at(h[4])
    reasons = Counter(h[1] for h in handoffs)
    assert reasons["explicit_request"] > 0 and len(reasons) >= 3
    waits = [(_at(h[3]) - _at(h[2])).total_seconds() for h in assigned]
    assert min(waits) < 30  # most are quick
    statuses_conv = dict(_rows(run.path, "SELECT status, COUNT(*) FROM conversations GROUP BY 1"))
    assert statuses_conv.get("resolved", 0) > 0 and statuses_conv.get("bot", 0) > 0
    agents = _rows(run.path, "SELECT role, status FROM agents")
    assert len(agents) == 8 and ("supervisor", "offline") in agents


def test_ratings_with_comments_in_both_languages(run: Run) -> None:
    ratings = _rows(
        run.path,
        "SELECT r.score, r.comment, c.status FROM ratings r "
        "JOIN conversations c ON c.id = r.conversation_id",
    )
    assert len(ratings) == run.summary.ratings > 0
    assert all(1 <= score <= 5 and status == "resolved" for score, _, status in ratings)
    comments = [comment for _, comment, _ in ratings if comment]
    chinese = [c for c in comments if any("\u4e00" <= ch <= "\u9fff" for ch in c)]
    assert chinese and len(chinese) < len(comments)  # some in Chinese, some in English


def test_timestamps_spread_over_the_simulated_days(run: Run) -> None:
    stamps = [
        _at(r[0]) for r in _rows(run.path, "SELECT created_at FROM messages ORDER BY created_at")
    ]
    assert stamps[0] >= START
    assert stamps[-1] < START + timedelta(days=SETTINGS.days + 2)  # the last night's backlog
    days = {s.astimezone(SHANGHAI).date() for s in stamps}
    assert len(days) >= SETTINGS.days
    hours = {s.astimezone(SHANGHAI).hour for s in stamps}
    assert len(hours) >= 12  # not all at one moment
    created = [_at(r[0]) for r in _rows(run.path, "SELECT created_at FROM conversations")]
    assert all(START <= c < START + timedelta(days=SETTINGS.days + 1) for c in created)


def test_messages_are_numbered_and_ordered_per_conversation(run: Run) -> None:
    rows = _rows(
        run.path,
        "SELECT conversation_id, seq, created_at FROM messages ORDER BY conversation_id, seq",
    )
    by_conv: dict[str, list[tuple[int, datetime]]] = {}
    for conv, seq, at in rows:
        by_conv.setdefault(conv, []).append((seq, _at(at)))
    last = dict(_rows(run.path, "SELECT id, last_seq FROM conversations"))
    for conv, messages in by_conv.items():
        assert [s for s, _ in messages] == list(range(1, len(messages) + 1))
        assert last[conv] == len(messages)
        times = [t for _, t in messages]
        assert times == sorted(times)
        if len(times) > 1:  # (a proactive message nobody answered stands alone)
            assert times[-1] > times[0]  # a conversation takes time


def test_pushed_channels_are_delivered(run: Run) -> None:
    statuses = dict(_rows(run.path, "SELECT status, COUNT(*) FROM deliveries GROUP BY 1"))
    assert statuses.get("sent", 0) > 0
    assert set(statuses) == {"sent"}


def test_same_seed_same_month(
    run: Run, sim_config: Config, trained: NLUPipeline, tmp_path: Path
) -> None:
    again = _run(sim_config, trained, tmp_path / "again.db", SETTINGS)

    def shape(path: Path) -> list[tuple[Any, ...]]:
        return _rows(
            path,
            "SELECT m.created_at, c.channel, m.seq, m.sender, m.text FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id ORDER BY 1, 2, 3, 4, 5",
        )

    assert shape(again.path) == shape(run.path)
    assert again.summary.lines()[1:-1] == run.summary.lines()[1:-1]
    other = _run(
        sim_config,
        trained,
        tmp_path / "other.db",
        SimulationSettings("2026-11", conversations=60, seed=8, days=3),
    )
    assert shape(other.path) != shape(run.path)


def test_the_real_clock_is_back(run: Run) -> None:
    assert not clock.simulated()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_refuses_a_database_with_conversations(run: Run, trained: NLUPipeline) -> None:
    with pytest.raises(InputError, match="--append"):
        asyncio.run(simulate(run.config, trained, SETTINGS, database=run.url))
    assert not clock.simulated()
    before = _rows(run.path, "SELECT COUNT(*) FROM conversations")[0][0]
    small = SimulationSettings("2026-11", conversations=5, seed=9, days=1, append=True)
    added = asyncio.run(simulate(run.config, trained, small, database=run.url))
    after = _rows(run.path, "SELECT COUNT(*) FROM conversations")[0][0]
    assert after == before + len(added.conversations)
    assert _rows(run.path, "SELECT COUNT(*) FROM agents")[0][0] == 8


def test_month_and_lines(sim_config: Config) -> None:
    start, days = month_window("2026-02", SHANGHAI)
    assert (start.day, days) == (1, 28)
    with pytest.raises(InputError):
        month_window("2026-13", SHANGHAI)
    with pytest.raises(InputError):
        month_window("2026-11", SHANGHAI, days=31)
    lines = load_lines(sim_config)
    for lang in ("zh", "en"):
        assert lines.questions[lang] and lines.unanswerable[lang]
        for intent in ("greet", "order_status", "request_human", "complaint", "thank"):
            assert lines.intents[intent][lang]


def test_the_shop_and_the_proactive_scheduler_run_in_the_month(run: Run) -> None:
    """The shop's events went in through the store, the real scheduler decided on them on the
    simulated clock, and the month's dashboard figures show what it did."""
    events = dict(_rows(run.path, "SELECT type, COUNT(*) FROM customer_events GROUP BY 1"))
    assert {"page_dwell", "cart_abandoned", "delivered"} <= set(events), events
    assert sum(events.values()) == sum(
        n for k, n in run.summary.shop_events.items() if k != "replayed"
    )
    sources = {r[0] for r in _rows(run.path, "SELECT DISTINCT source FROM customer_events")}
    assert sources == {"shop", "widget"}
    ledger = dict(_rows(run.path, "SELECT status, COUNT(*) FROM proactive_messages GROUP BY 1"))
    assert ledger.get("sent", 0) == run.summary.proactive["sent"] > 0
    held = dict(
        _rows(
            run.path,
            "SELECT reason, COUNT(*) FROM proactive_messages "
            "WHERE status IN ('suppressed', 'cancelled') GROUP BY 1",
        )
    )
    assert len(held) >= 2, held  # more than one reason a message was held back
    # Every sent message is a bot message in the customer's conversation, carrying its rule.
    sent = _rows(
        run.path,
        "SELECT p.rule, p.channel, m.sender, m.payload FROM proactive_messages p "
        "JOIN messages m ON m.id = p.message_id WHERE p.status = 'sent'",
    )
    assert len(sent) == ledger["sent"]
    assert all(
        sender == "bot" and f'"rule": "{rule}"' in payload for rule, _, sender, payload in sent
    )
    assert {channel for _, channel, _, _ in sent} & {"web", "telegram", "wechat"}

    async def figures() -> dict[str, Any]:
        store = await SqlStore.open(run.url)
        try:
            period = Period.days("2026-10-31", "2026-11-06")
            return await proactive_figures(store.proactive, period.start, period.end)
        finally:
            await store.close()

    month = asyncio.run(figures())
    assert month["sent"] == ledger["sent"] and month["delivered"] > 0
    assert month["delivered"] == run.summary.proactive["delivered"]
    assert month["replied"] == run.summary.proactive["replied"]
    assert month["suppressed"] == sum(held.values())
    if month["delivered"]:
        assert month["participation_rate"] == round(month["replied"] / month["delivered"], 4)
