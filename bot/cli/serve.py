"""`relaydesk run`: serve the HTTP API (channels, console, agent API) until interrupted."""

from __future__ import annotations

import argparse
import gc
import logging
import time
from pathlib import Path

from bot.cli.common import read_config

log = logging.getLogger("relaydesk")
SHUTDOWN_TIMEOUT_S = 0.5


def cmd_run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    config = read_config(args)

    from aiohttp import web
    from threadpoolctl import threadpool_limits

    from bot.logs import use_log_format
    from bot.nlu.pipeline import load_for_config
    from bot.server.app import create_app

    use_log_format(config.server.log_format)  # on the handlers main() set up
    threadpool_limits(config.server.blas_threads, user_api="blas")
    _raise_open_files_limit()
    pipeline = load_for_config(config, Path(args.model) if args.model else None)
    app = create_app(config, pipeline, dialogue=True)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port

    async def _ready(_app: web.Application) -> None:
        # The models and the knowledge index are loaded for good: move them out of the
        # collector's sight, so its full passes stay short and turns don't stall behind them.
        gc.collect()
        gc.freeze()
        log.info(
            "serving on http://%s:%d (ready in %.2f s, model %s)",
            host,
            port,
            time.perf_counter() - started,
            pipeline.metadata.get("model_path"),
        )

    app.on_startup.append(_ready)
    stopping: list[float] = []

    async def _stopping(_app: web.Application) -> None:
        stopping.append(time.perf_counter())

    async def _stopped(_app: web.Application) -> None:
        if stopping:
            log.info("stopped in %.2f s", time.perf_counter() - stopping[0])

    app.on_shutdown.insert(0, _stopping)  # before the drain (bot/http/shutdown.py)
    app.on_cleanup.append(_stopped)
    web.run_app(
        app,
        host=host,
        port=port,
        print=None,
        access_log=None,
        # After the drain: HTTP requests still running (a REST turn, a long poll) get this long,
        # twice (aiohttp waits, cancels, waits again), before they are cut off. The drain's 2.5 s,
        # this, the cleanup and the interpreter's own exit stay within 5 s.
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    return 0


def _raise_open_files_limit() -> None:
    """Every widget and console socket is an open file; a soft limit of 1,024 (a common default)
    would refuse customers long before memory or CPU run out. Raise it to the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            log.warning("could not raise the open-files limit from %d", soft)
