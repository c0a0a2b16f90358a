"""Typed keys for what the aiohttp application carries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bot.config import Config
from bot.nlu.pipeline import NLUPipeline

CONFIG = web.AppKey("config", Config)
NLU = web.AppKey("nlu", NLUPipeline)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
