"""Runs a simulated month: the real runtime (engine, store, handoff service) opened on a new
database under a simulated clock, the agents' shifts and the customers' visits scheduled, and
the summary returned."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import clock
from bot.config import Config, config_from_dict
from bot.dialogue.responses import Responses
from bot.errors import InputError, RelaydeskError
from bot.nlu.pipeline import NLUPipeline
from bot.server.context import AppContext, open_context
from bot.store import models as m
from bot.store.sql_store import SqlStore
from bot.store.tables import PUSHED_CHANNELS
from handoff.announcer import QueueAnnouncer

from .lines import load_lines
from .settings import SimulationSettings, SimulationSummary, default_database, month_window
from .shop import Shop
from .visits import Simulation

P = ParamSpec("P")
# The scheduler runs on this long after the last arrival: the evening's reminders go out.
PROACTIVE_AFTER = timedelta(hours=12)
T = TypeVar("T")


class _LatencyExecutor(ThreadPoolExecutor):
    """The engine's one parse worker; each job moves the simulated clock on by the bot's
    thinking time, so its replies come a moment after the customer's message."""

    def __init__(self, latency: Callable[[], object]) -> None:
        super().__init__(1, thread_name_prefix="relaydesk-simulate")
        self._latency = latency

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        self._latency()
        return super().submit(fn, *args, **kwargs)


async def simulate(
    config: Config,
    nlu: NLUPipeline,
    settings: SimulationSettings,
    *,
    database: str | None = None,
    questions: Path | None = None,
) -> SimulationSummary:
    """Run the month against `database` (default: a new SQLite file var/simulated-MONTH.db)."""
    started = time.perf_counter()
    tz = ZoneInfo(config.handoff.timezone)
    start, days = month_window(settings.month, tz, settings.days)
    if settings.conversations < 1:
        raise InputError("conversations: at least 1")
    url = database or default_database(settings.month)
    raw = config.model_dump(exclude={"base_dir"})
    raw["pipeline"] = config.pipeline_spec()
    raw["storage"]["url"] = url
    sim_config = config_from_dict(raw, base_dir=config.base_dir)
    lines = load_lines(sim_config, questions)
    summary = SimulationSummary(settings.month, url, start, start + timedelta(days=days))
    sim_clock = clock.SimulatedClock(start - timedelta(days=1))
    latency = random.Random(settings.seed + 1)
    executor = _LatencyExecutor(lambda: sim_clock.advance(latency.uniform(0.2, 1.2)))
    runtime: AppContext | None = None
    with clock.use_clock(sim_clock):
        try:
            runtime = await open_context(sim_config, nlu, executor)
            assert runtime.engine is not None and runtime.store is not None
            assert runtime.handoff is not None
            # The bot's and the agents' templates pick among variations: seeded, so the same
            # seed gives the same words.
            responses = Responses.load(
                Path(sim_config.path(sim_config.dialogue.responses)), seed=settings.seed
            )
            runtime.engine.responses = responses
            runtime.handoff.responses = responses
            for announcer in (runtime.engine.announcer, runtime.handoff.announcer):
                assert isinstance(announcer, QueueAnnouncer)
                announcer.responses = responses
            store = runtime.store
            before = await store.db.run(_conversation_ids)
            existing = len(before)
            if existing and not settings.append:
                raise InputError(
                    f"{url} holds {existing} conversations already: give another --db, or "
                    "--append to add to them"
                )
            sim = Simulation(
                settings,
                runtime.engine,
                runtime.handoff,
                lines,
                sim_clock,
                summary,
                _order_ids(Path(sim_config.path(sim_config.dialogue.orders_db))),
                summary.end,
                sender_prefix=f"r{existing}-" if existing else "",
            )
            await sim.add_agents()
            for agent in sim.agents:
                sim.spawn(sim_clock.now(), sim.shift(agent, start, days + 1))
            # The shop's events and the proactive scheduler, when the config has rules.
            section = sim_config.proactive
            shop = Shop(sim, section, settings.seed) if section.enabled and section.rules else None
            if shop is not None:
                await shop.start()
                sim.spawn(start, shop.ticker(summary.end + PROACTIVE_AFTER))
            for n, at in enumerate(sim.arrivals(start, days), 1):
                v = sim.new_visit(n)
                sim.spawn(at, shop.visit(v) if shop is not None else sim.visit(v))
            try:
                await sim.run()
            finally:
                if shop is not None:
                    await shop.scheduler.stop()
            await _count_unanswered(store, before, summary)
            for channel in sorted(PUSHED_CHANNELS):  # what the queue announcer sent last
                await sim.deliver(channel)
        finally:
            if runtime is not None:
                await runtime.store.close()
            executor.shutdown(wait=True)
    summary.elapsed_s = time.perf_counter() - started
    return summary


async def _count_unanswered(store: SqlStore, before: set[str], summary: SimulationSummary) -> None:
    """Conversations this run opened that no customer wrote in (a proactive message nobody
    answered) are the month's too."""

    def work(s: Session) -> list[tuple[str, str, str | None]]:
        c = m.Conversation
        return [
            (r.id, r.channel, r.language) for r in s.execute(select(c.id, c.channel, c.language))
        ]

    for cid, channel, language in await store.db.run(work):
        if cid not in before and cid not in summary.conversations:
            summary.conversations.add(cid)
            summary.channels[channel] += 1
            summary.languages[language or "?"] += 1


def _conversation_ids(s: Session) -> set[str]:
    return {str(i) for i in s.scalars(select(m.Conversation.id))}


def _order_ids(path: Path) -> list[str]:
    """The shop's order numbers, for customers who quote theirs."""
    try:
        with closing(sqlite3.connect(path)) as db:
            return [str(r[0]) for r in db.execute("SELECT order_id FROM orders ORDER BY order_id")]
    except sqlite3.Error as exc:
        raise RelaydeskError(f"cannot read the orders in {path}: {exc}") from exc
