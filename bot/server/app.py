"""Builds the aiohttp application; tests start this same app on a random port."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bot.config import Config
from bot.logs import install_redaction, register_secrets
from bot.nlu.pipeline import NLUPipeline
from bot.server import nlu_routes, observability
from bot.server.errors import error_middleware
from bot.server.keys import CONFIG, EXECUTOR, NLU
from bot.server.rate_limit import LIMITS, Limits, ip_limit_middleware
from bot.server.runtime import RUNTIME, Runtime, runtime_context


def create_app(config: Config, nlu: NLUPipeline, *, dialogue: bool = False) -> web.Application:
    """The HTTP app. With `dialogue`, start-up also opens the store, the knowledge base and the
    dialogue engine, and the REST channel is served."""
    # Before anything can log: no credential of this config reaches a log line.
    install_redaction()
    register_secrets(*config.secrets())
    app = web.Application(
        client_max_size=config.server.max_body_bytes,
        # Outermost first: an unhandled error is logged with the route's conversation id.
        middlewares=[
            ip_limit_middleware,
            observability.conversation_middleware,
            error_middleware,
        ],
    )
    app[CONFIG] = config
    app[LIMITS] = Limits(config.server.rate_limits)
    app[NLU] = nlu
    # Parsing is CPU-bound; it runs off the event loop so sockets stay responsive.
    app[EXECUTOR] = ThreadPoolExecutor(
        max_workers=config.server.parse_workers, thread_name_prefix="parse"
    )
    app.add_routes(nlu_routes.routes)
    app.add_routes(observability.routes)
    app[RUNTIME] = Runtime()
    if dialogue:
        from connectors import rest
        from handoff import agent_api
        from handoff.console import dashboard
        from handoff.console import routes as console_routes
        from handoff.console import socket as console_socket

        app.add_routes(rest.routes)
        app.add_routes(agent_api.routes)
        app.add_routes(console_routes.routes)
        app.add_routes(dashboard.routes)
        app[dashboard.CACHE] = {}
        app.add_routes(console_socket.routes)
        if config.connectors.web.enabled:
            from connectors.web import socket as web_socket

            app.add_routes(web_socket.routes)
        if config.connectors.telegram.enabled:
            from connectors.telegram import routes as telegram_routes

            app.add_routes(telegram_routes.routes)
        if config.connectors.wechat.enabled:
            from connectors.wechat import routes as wechat_routes

            app.add_routes(wechat_routes.routes)
        app.cleanup_ctx.append(runtime_context(config, nlu, app[EXECUTOR]))  # type: ignore[arg-type]
    if not dialogue or not config.connectors.web.enabled:
        app.router.add_get("/", nlu_routes.index)  # no demo page: the API index instead
    app.on_cleanup.append(_shutdown_executor)
    return app


async def _shutdown_executor(app: web.Application) -> None:
    app[EXECUTOR].shutdown(wait=True, cancel_futures=True)
