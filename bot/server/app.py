"""Builds the aiohttp application; tests start this same app on a random port."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bot.config import Config
from bot.http.errors import error_middleware
from bot.http.keys import CONFIG, ERROR_OBSERVER, EXECUTOR
from bot.http.rate_limit import LIMITS, Limits, ip_limit_middleware
from bot.http.shutdown import LIVE, LiveSockets, drain_on_shutdown, draining_middleware
from bot.logs import install_redaction, register_secrets
from bot.metrics import Metrics
from bot.nlu.pipeline import NLUPipeline
from bot.server import nlu_routes, observability
from bot.server.context import CONTEXT, serve_context
from bot.server.keys import METRICS, NLU
from connectors.events import routes as events_routes
from connectors.registry import ChannelRegistry
from connectors.registry import secrets as channel_secrets
from handoff.console import (
    admin_api,
    agent_api,
    dashboard,
    profiles_api,
    review_api,
    search_api,
    tickets_api,
)
from handoff.console import media as console_media
from handoff.console import routes as console_routes
from handoff.console import socket as console_socket

log = logging.getLogger(__name__)


def create_app(config: Config, nlu: NLUPipeline, *, dialogue: bool = False) -> web.Application:
    """The HTTP app. With `dialogue`, start-up also opens the store, the knowledge base and the
    dialogue engine (bot/server/context.py), and the console and the configured channels
    (connectors/registry.py) are served."""
    # Before anything can log: no credential of this config reaches a log line.
    install_redaction()
    register_secrets(*channel_secrets(config))  # also checks every connectors.<name> section
    app = web.Application(
        client_max_size=config.server.max_body_bytes,
        # Outermost first: an unhandled error is logged with the route's conversation id.
        middlewares=[
            ip_limit_middleware,
            observability.conversation_middleware,
            error_middleware,
            draining_middleware,  # inside: its 503 gets the one JSON error shape
        ],
    )
    app[CONFIG] = config
    app[LIMITS] = Limits(config.server.rate_limits)
    app[NLU] = nlu
    # On SIGTERM: stop accepting, sockets told to reconnect (1012), turns in flight finished.
    app[LIVE] = LiveSockets()
    app.on_shutdown.append(drain_on_shutdown)
    metrics = app[METRICS] = Metrics()
    app[ERROR_OBSERVER] = metrics.http_error  # counted by class only, never by path
    # Parsing is CPU-bound; it runs off the event loop so sockets stay responsive.
    app[EXECUTOR] = ThreadPoolExecutor(
        max_workers=config.server.parse_workers, thread_name_prefix="parse"
    )
    app.add_routes(nlu_routes.routes)
    app.add_routes(observability.routes)
    channels = ChannelRegistry.from_config(config) if dialogue else ChannelRegistry([])
    if dialogue:
        app.add_routes(agent_api.routes)
        app.add_routes(console_media.routes)
        app.add_routes(console_routes.routes)
        app.add_routes(dashboard.routes)
        app[dashboard.CACHE] = {}
        app.add_routes(console_socket.routes)
        for extra in (tickets_api, review_api, admin_api, profiles_api, search_api):
            app.add_routes(extra.routes)
        for channel in channels.values():
            app.add_routes(channel.routes())
        app.add_routes(events_routes.routes)  # POST /api/events: the shop's events in
        app.cleanup_ctx.append(serve_context(config, nlu, channels, app[EXECUTOR]))
        app.on_startup.append(_serve_events)  # after the cleanup contexts: the store is open
    if "/" not in {r.resource.canonical for r in app.router.routes() if r.resource}:
        app.router.add_get("/", nlu_routes.index)  # no demo page: the API index instead
    app.on_cleanup.append(_shutdown_executor)
    return app


async def _serve_events(app: web.Application) -> None:
    events = app[CONTEXT].store.customer_events
    section = app[CONFIG].proactive
    app[events_routes.INTAKE] = events_routes.EventIntake(events, section)
    if section.enabled:
        idle = sorted(name for name, s in section.sources.items() if not s.configured)
        if idle:
            log.warning(
                "proactive: POST /api/events refuses source(s) %s until their key and secret "
                "are set (docs/proactive.md)",
                ", ".join(idle),
            )


async def _shutdown_executor(app: web.Application) -> None:
    app[EXECUTOR].shutdown(wait=True, cancel_futures=True)
