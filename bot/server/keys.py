"""Typed keys for what only the composition root's own routes read: the NLU pipeline and the
metrics registry (the shared keys are in bot/http/keys.py)."""

from __future__ import annotations

from aiohttp import web

from bot.metrics import Metrics
from bot.nlu.pipeline import NLUPipeline

NLU = web.AppKey("nlu", NLUPipeline)
METRICS = web.AppKey("metrics", Metrics)
