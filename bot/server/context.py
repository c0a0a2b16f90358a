"""The application context: every long-lived service, built once by the composition root when
the server (or a CLI command) starts, and handed to each room as what it needs.

Nothing in it is optional. A feature that may be absent is not registered rather than None:
a channel not configured is not in `channels` (and its routes are not mounted); without
`server.redis_url` there is no Redis, and `redis` says so for the few parts that coordinate
through it. `signals` (typing, read receipts) and `online` (which conversations have a widget
open) are always there: local to the process without Redis, shared through Redis with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from bot.config import Config
from bot.coordination import (
    RedisMessageBus,
    RedisOnlineClients,
    RedisSignalBus,
    RedisTurnLocks,
)
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.policy import PolicySettings
from bot.dialogue.recovery import TurnRecovery
from bot.dialogue.responses import Responses
from bot.dialogue.shop_systems import (
    build_custom_actions,
    build_order_lookup,
    close_shop_systems,
)
from bot.events import LocalOnlineClients, LocalSignalBus, OnlineClients, SignalBus
from bot.http.rate_limit import LIMITS
from bot.http.shutdown import LIVE
from bot.knowledge.base import KnowledgeBase
from bot.metrics import Metrics
from bot.nlu.pipeline import NLUPipeline
from bot.proactive.scheduler import ProactiveScheduler
from bot.server.keys import METRICS
from bot.server.proactive_reach import ChannelReach
from bot.store.admin_settings import SqlAdminSettings
from bot.store.conversation_search import SearchIndexer
from bot.store.live_settings import LiveSettings
from bot.store.media import DirectoryBlobs, MediaLimits, SqlMedia
from bot.store.segment_refresh import SegmentRefresher
from bot.store.segments import rules_from
from bot.store.sql_store import SqlStore
from bot.store.tickets import SqlTickets
from connectors.channel import ChannelServices
from connectors.registry import ChannelRegistry
from connectors.webhooks.worker import WebhookWorker
from handoff.announcer import QueueAnnouncer
from handoff.console.accounts import Accounts
from handoff.console.administration import Administration
from handoff.console.canned import load_canned
from handoff.console.services import CONSOLE, ConsoleServices
from handoff.routing import Router
from handoff.service import HandoffService
from handoff.tickets.desk import TicketDesk
from handoff.tickets.sweeper import TicketSweeper


@dataclass(frozen=True)
class AppContext:
    config: Config
    nlu: NLUPipeline
    metrics: Metrics  # this app's Prometheus registry
    store: SqlStore
    kb: KnowledgeBase
    engine: DialogueEngine
    handoff: HandoffService
    accounts: Accounts
    canned: Mapping[str, Any]  # console canned responses per language (live: `live.canned`)
    # The administered skill groups, hours, holidays and canned responses (seeded from
    # config.yml and canned.yml), kept current from the database.
    live: LiveSettings
    # The Redis client instances coordinate through (server.redis_url); None: one instance.
    redis: Redis | None
    # The enabled channels by name, and every channel kind's limits (none outside the server:
    # the CLI's shell, stories).
    channels: ChannelRegistry = field(default_factory=lambda: ChannelRegistry([]))
    # Typing and read receipts between the widget and the console (ephemeral, never stored).
    signals: SignalBus = field(default_factory=LocalSignalBus)
    # The conversations with a widget open on any instance (what a proactive message asks).
    online: OnlineClients = field(default_factory=LocalOnlineClients)

    def console(self) -> ConsoleServices:
        """What the console's routes work with."""
        return ConsoleServices(
            store=self.store,
            signals=self.signals,
            handoff=self.handoff,
            accounts=self.accounts,
            kb=self.kb,
            metrics=self.metrics,
            nlu=self.nlu,
            canned=self.canned,
            channel_limits=self.channels.limits(self.store),
            admin=Administration(self.store, self.accounts, self.live, self.config.handoff),
            tickets=TicketDesk(
                self.store,
                self.config.tickets,
                skill_groups=self.live.groups,
                default_group=self.config.handoff.default_group,
                channel_limits=self.channels.limits(self.store),
            ),
        )

    def channel_services(self, app: web.Application) -> ChannelServices:
        """What every channel is started with."""
        config = self.config
        return ChannelServices(
            config=config,
            engine=self.engine,
            store=self.store,
            metrics=self.metrics,
            limits=app[LIMITS],
            media_dir=Path(config.path(config.knowledge.path)) / "media",
            redis=self.redis,
            channels=self.channels,
            signals=self.signals,
            online=self.online,
        )


CONTEXT = web.AppKey("context", AppContext)


async def open_context(
    config: Config,
    nlu: NLUPipeline,
    executor: Executor | None = None,
    *,
    metrics: Metrics | None = None,
    channels: ChannelRegistry | None = None,
) -> AppContext:
    """Open the store and the knowledge base and build the services on them."""
    metrics = metrics or Metrics()
    bus: RedisMessageBus | None = None
    signals: SignalBus = LocalSignalBus()
    online: OnlineClients = LocalOnlineClients()
    if config.server.redis_url:
        bus = RedisMessageBus(config.server.redis_url)
        await bus.start()
        signals = RedisSignalBus(bus.redis)  # the same client, a channel of its own
        await signals.start()
        online = RedisOnlineClients(bus.redis, instance=bus.instance)
    store = await SqlStore.open(config.storage.url, base_dir=config.base_dir, bus=bus)
    minutes = config.dialogue.session_expiration_minutes
    store.settings.session_expiry = timedelta(minutes=minutes) if minutes else None
    store.settings.mask_transcripts = config.privacy.mask_transcripts
    store.profiles.rules = rules_from(config.customers)
    store.tickets = SqlTickets(store.db, store.settings, config.tickets)  # SLA levels
    store.media = SqlMedia(
        store.db,
        DirectoryBlobs(config.path(config.media.dir)),
        MediaLimits(config.media.max_bytes, frozenset(config.media.allowed_types)),
    )
    embed = nlu.component("SentenceEmbeddingFeaturizer")
    kb = KnowledgeBase(config, embedder=embed.embedder if embed else None)
    kb.open()
    h, c = config.handoff, config.console
    canned = load_canned(Path(config.path(c.canned_responses)))
    live = await LiveSettings.open(SqlAdminSettings(store.db), h.skill_groups, canned)
    responses = Responses.load(config.path(config.dialogue.responses))
    opt_out = config.proactive.opt_out_words  # "退订", "stop": bot/dialogue/inbound.py
    engine = DialogueEngine(
        store,
        nlu,
        kb,
        responses,
        Router(h, live),
        build_order_lookup(config, store.shop_orders),
        PolicySettings(h.max_failed_turns, h.negative_streak_to_escalate, h.strong_negative_score),
        announcer=QueueAnnouncer(store, responses, h.average_handle_minutes),
        default_language=config.dialogue.default_language,
        ticket_follow_up_hours=h.ticket_follow_up_hours,
        auto_assign=h.auto_assign,
        executor=executor,
        metrics=metrics,
        max_turn_attempts=config.dialogue.recovery.max_attempts,
        actions=build_custom_actions(config, responses),
        opt_out_words={"zh": opt_out.zh, "en": opt_out.en},
    )
    if bus is not None:  # one customer's turns in order across instances
        engine.locks = RedisTurnLocks(bus.redis)
    return AppContext(
        config=config,
        nlu=nlu,
        metrics=metrics,
        store=store,
        kb=kb,
        engine=engine,
        handoff=HandoffService(
            store,
            responses,
            handle_minutes=h.average_handle_minutes,
            metrics=metrics,
            skill_groups=live.groups,
        ),
        accounts=Accounts(
            store,
            session_hours=c.session_hours,
            max_failures=c.max_failed_logins,
            lockout_minutes=c.lockout_minutes,
        ),
        canned=live.canned,
        live=live,
        redis=bus.redis if bus is not None else None,
        channels=channels if channels is not None else ChannelRegistry([]),
        signals=signals,
        online=online,
    )


async def close_context(context: AppContext) -> None:
    """Close the store, the buses (signals first: they share the message bus's Redis client),
    and the shop systems' sessions."""
    await close_shop_systems(context.engine.orders, context.engine.actions)
    if isinstance(context.signals, RedisSignalBus):
        await context.signals.close()
    await context.store.close()
    close = getattr(context.store.bus, "close", None)
    if close is not None:
        await close()


def serve_context(
    config: Config,
    nlu: NLUPipeline,
    channels: ChannelRegistry,
    executor: Executor | None = None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The server's start-up and shutdown (an aiohttp cleanup context): the context, the
    console's services, the channels, and the recovery of unfinished turns."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        context = await open_context(config, nlu, executor, metrics=app[METRICS], channels=channels)
        app[CONTEXT] = context
        app[CONSOLE] = context.console()
        context.live.start()  # settings changed on other instances reach this one
        segments = SegmentRefresher(context.store.profiles, config.customers.refresh_minutes)
        segments.start()  # lifecycles move with the calendar
        if context.redis is not None:  # instances behind one load balancer share the limits
            app[LIMITS].share(context.redis)
        services = context.channel_services(app)
        for channel in channels.values():
            await channel.start(services)
        recovery = None
        if config.dialogue.recovery.enabled:
            recovery = TurnRecovery(context.engine, config.dialogue.recovery)
            recovery.start()
            app[LIVE].stop_first(recovery.stop)  # on SIGTERM: no new turns taken up here
        tickets = TicketSweeper(app[CONSOLE].tickets, config.tickets.sweep_interval_seconds)
        tickets.start()  # escalations, follow-ups and closing on time
        search_index = SearchIndexer(context.store.conversation_search)
        search_index.start()  # past conversations' search, off the hot path
        proactive = None
        if config.proactive.enabled:  # the bot writes first (bot/proactive/scheduler.py)
            reach = ChannelReach(context.store, channels, context.online)
            proactive = ProactiveScheduler(context.store, config.proactive, reach)
            proactive.start()
        webhooks = None
        if config.integrations.webhooks.endpoints:  # the shop's systems told what happens
            webhooks = WebhookWorker(
                context.store.db,
                config.integrations.webhooks,
                mask=config.privacy.mask_transcripts,
            )
            await webhooks.start()
        yield
        if webhooks is not None:
            await webhooks.stop()
        if proactive is not None:
            await proactive.stop()
        await tickets.stop()
        await search_index.stop()
        await context.live.stop()
        await segments.stop()
        if recovery is not None:
            await recovery.stop()
        for channel in reversed(list(channels.values())):
            await channel.stop()
        await close_context(context)

    return ctx
