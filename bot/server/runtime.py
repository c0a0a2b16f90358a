"""The long-lived parts the server opens at start-up and closes at shutdown: the store, the
knowledge base and the dialogue engine built on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.config import Config
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.orders import SqliteOrderLookup
from bot.dialogue.policy import PolicySettings
from bot.dialogue.recovery import TurnRecovery
from bot.dialogue.responses import Responses
from bot.knowledge.base import KnowledgeBase
from bot.metrics import Metrics
from bot.nlu.pipeline import NLUPipeline
from bot.server.rate_limit import LIMITS
from bot.store.sql_store import SqlStore
from handoff.console.accounts import Accounts
from handoff.console.canned import load_canned
from handoff.routing import Router
from handoff.service import HandoffService

if TYPE_CHECKING:
    from connectors.telegram.connector import TelegramConnector
    from connectors.wechat.connector import WechatConnector


@dataclass
class Runtime:
    engine: DialogueEngine | None = None
    store: SqlStore | None = None
    kb: KnowledgeBase | None = None
    handoff: HandoffService | None = None
    accounts: Accounts | None = None
    canned: dict[str, Any] = field(default_factory=dict)  # console canned responses per language
    telegram: TelegramConnector | None = None
    wechat: WechatConnector | None = None
    metrics: Metrics = field(default_factory=Metrics)  # this app's Prometheus registry
    recovery: TurnRecovery | None = None  # finishes turns whose process died mid-way
    redis: Any = None  # the Redis client instances coordinate through (server.redis_url)


RUNTIME = web.AppKey("runtime", Runtime)


async def open_runtime(
    config: Config, nlu: NLUPipeline, runtime: Runtime, executor: Executor | None = None
) -> None:
    bus: Any = None
    if config.server.redis_url:
        from bot.coordination import RedisMessageBus

        bus = RedisMessageBus(config.server.redis_url)
        await bus.start()
        runtime.redis = bus.redis
    store = await SqlStore.open(config.storage.url, base_dir=config.base_dir, bus=bus)
    minutes = config.dialogue.session_expiration_minutes
    store.session_expiry = timedelta(minutes=minutes) if minutes else None
    store.mask_transcripts = config.privacy.mask_transcripts
    embed = nlu.component("SentenceEmbeddingFeaturizer")
    kb = KnowledgeBase(config, embedder=embed.embedder if embed else None)
    kb.open()
    h = config.handoff
    runtime.store, runtime.kb = store, kb
    responses = Responses.load(config.path(config.dialogue.responses))
    runtime.handoff = HandoffService(
        store,
        responses,
        handle_minutes=h.average_handle_minutes,
        metrics=runtime.metrics,
        skill_groups=h.skill_groups,
    )
    c = config.console
    runtime.accounts = Accounts(
        store,
        session_hours=c.session_hours,
        max_failures=c.max_failed_logins,
        lockout_minutes=c.lockout_minutes,
    )
    runtime.canned = load_canned(Path(config.path(c.canned_responses)))
    runtime.engine = DialogueEngine(
        store,
        nlu,
        kb,
        responses,
        Router(h),
        SqliteOrderLookup(Path(config.path(config.dialogue.orders_db))),
        PolicySettings(h.max_failed_turns, h.negative_streak_to_escalate, h.strong_negative_score),
        default_language=config.dialogue.default_language,
        ticket_follow_up_hours=h.ticket_follow_up_hours,
        average_handle_minutes=h.average_handle_minutes,
        auto_assign=h.auto_assign,
        executor=executor,
        metrics=runtime.metrics,
        max_turn_attempts=config.dialogue.recovery.max_attempts,
    )
    if bus is not None:  # one customer's turns in order across instances
        from bot.coordination import RedisTurnLocks

        runtime.engine.locks = RedisTurnLocks(bus.redis)


def runtime_context(config: Config, nlu: NLUPipeline, executor: Executor | None = None) -> object:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        runtime = app[RUNTIME]
        await open_runtime(config, nlu, runtime, executor)
        if runtime.redis is not None:  # instances behind one load balancer share the limits
            app[LIMITS].share(runtime.redis)
        from connectors.lifecycle import start_connectors, stop_connectors

        await start_connectors(config, runtime)
        if config.dialogue.recovery.enabled and runtime.engine is not None:
            runtime.recovery = TurnRecovery(runtime.engine, config.dialogue.recovery)
            runtime.recovery.start()
        yield
        if runtime.recovery is not None:
            await runtime.recovery.stop()
            runtime.recovery = None
        await stop_connectors(runtime)
        if runtime.store is not None:
            await runtime.store.close()
            close = getattr(runtime.store.bus, "close", None)
            if close is not None:
                await close()

    return ctx
