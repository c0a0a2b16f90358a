"""The NLU HTTP API, shaped like Rasa's: POST /model/parse, plus /status and /version."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from bot import __version__
from bot.errors import InputError
from bot.http.json_body import read_object
from bot.http.keys import CONFIG, EXECUTOR
from bot.nlu.pipeline import validate_text
from bot.server.keys import METRICS, NLU

routes = web.RouteTableDef()


@routes.post("/model/parse")
async def parse(request: web.Request) -> web.Response:
    started = time.perf_counter()
    config = request.app[CONFIG]
    body = await read_object(request, allowed={"text", "message_id"}, required={"text"})
    text = validate_text(body["text"], config.nlu.max_text_chars)
    message_id = body.get("message_id")
    if message_id is not None and not isinstance(message_id, str):
        raise InputError("'message_id' must be a string")
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(request.app[EXECUTOR], request.app[NLU].parse, text)
    out: dict[str, Any] = result.to_dict()
    if message_id is not None:
        out["message_id"] = message_id
    response = web.json_response(out, dumps=_dumps)
    request.app[METRICS].parse_latency.observe(time.perf_counter() - started)
    return response


@routes.get("/status")
async def status(request: web.Request) -> web.Response:
    meta = request.app[NLU].metadata
    return web.json_response(
        {
            "model_file": meta.get("model_path"),
            "model_id": meta.get("fingerprint"),
            "intents": meta.get("intents", []),
            "trained_at": meta.get("created"),
        }
    )


@routes.get("/version")
async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": __version__})


@routes.get("/api")
async def index(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "name": "relaydesk",
            "version": __version__,
            "endpoints": {
                "POST /model/parse": "parse a message: intent, entities, sentiment, language",
                "GET /status": "the model being served",
                "GET /version": "relaydesk's version",
                "GET /health": "liveness",
                "GET /ready": "readiness: the store, the engine and the database answer",
                "GET /metrics": "Prometheus metrics",
            },
        }
    )


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False)
