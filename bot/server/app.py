"""Builds the aiohttp application; tests start this same app on a random port."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bot.config import Config
from bot.nlu.pipeline import NLUPipeline
from bot.server import nlu_routes
from bot.server.errors import error_middleware
from bot.server.keys import CONFIG, EXECUTOR, NLU
from bot.server.runtime import RUNTIME, Runtime, runtime_context


def create_app(config: Config, nlu: NLUPipeline, *, dialogue: bool = False) -> web.Application:
    """The HTTP app. With `dialogue`, start-up also opens the store, the knowledge base and the
    dialogue engine, and the REST channel is served."""
    app = web.Application(
        client_max_size=config.server.max_body_bytes, middlewares=[error_middleware]
    )
    app[CONFIG] = config
    app[NLU] = nlu
    # Parsing is CPU-bound; it runs off the event loop so sockets stay responsive.
    app[EXECUTOR] = ThreadPoolExecutor(
        max_workers=config.server.parse_workers, thread_name_prefix="parse"
    )
    app.add_routes(nlu_routes.routes)
    app[RUNTIME] = Runtime()
    if dialogue:
        from connectors import rest

        app.add_routes(rest.routes)
        if config.server.dev_agent_api:
            from handoff import agent_api

            app.add_routes(agent_api.routes)
        app.cleanup_ctx.append(runtime_context(config, nlu))  # type: ignore[arg-type]
    app.on_cleanup.append(_shutdown_executor)
    return app


async def _shutdown_executor(app: web.Application) -> None:
    app[EXECUTOR].shutdown(wait=True, cancel_futures=True)
