"""Typed keys for what every part of the aiohttp application may read: the config and the
thread pool for CPU-bound work. The services are handed to each room by the composition root
(bot/server/context.py), not found through the app."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bot.config import Config

CONFIG = web.AppKey("config", Config)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
# Told the status of every error response (the root counts them in its metrics).
ErrorObserver = Callable[[int], None]
ERROR_OBSERVER: web.AppKey[ErrorObserver] = web.AppKey("error_observer")
