"""Builds the aiohttp application; tests start this same app on a random port."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bot.config import Config
from bot.nlu.pipeline import NLUPipeline
from bot.server import nlu_routes
from bot.server.errors import error_middleware
from bot.server.keys import CONFIG, EXECUTOR, NLU


def create_app(config: Config, nlu: NLUPipeline) -> web.Application:
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
    app.on_cleanup.append(_shutdown_executor)
    return app


async def _shutdown_executor(app: web.Application) -> None:
    app[EXECUTOR].shutdown(wait=True, cancel_futures=True)
