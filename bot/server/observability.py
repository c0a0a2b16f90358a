"""What operators watch: GET /metrics (Prometheus), GET /ready (readiness; /health is liveness),
and the middleware that tags the log lines of a `{cid}` route with its conversation."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.http.errors import Handler
from bot.http.keys import CONFIG
from bot.logs import conversation_context
from bot.server.context import CONTEXT
from bot.server.keys import METRICS, NLU

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
READY_TIMEOUT_S = 2.0
QUEUE_READ_TIMEOUT_S = 5.0
MAX_CID_CHARS = 64


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    context = request.app.get(CONTEXT)  # not there without the dialogue, or before start-up
    if context is not None:
        groups = request.app[CONFIG].handoff.skill_groups
        try:
            await asyncio.wait_for(
                registry.refresh_queue(context.store, groups), QUEUE_READ_TIMEOUT_S
            )
        except Exception as exc:
            # A stale queue length would look healthy: leave the queue series out instead.
            registry.queue_length.clear()
            registry.queue_longest_wait.clear()
            log.warning("metrics: could not read the queue: %s", exc or type(exc).__name__)
    body = generate_latest(registry.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    """200 once the store, the dialogue engine and the knowledge base are open and the database
    answers; 503 with the reason otherwise (starting, shutting down, database away). The body
    says how the knowledge base decides to answer (fitted, or a fallback rule).

    A service the NLU asks (a Rasa server behind RasaServerNLU) that does not answer makes it
    200 with status "degraded" and the reason, not 503: every instance shares that service, so
    taking them all out of the load balancer would turn a degraded bot (knowledge answers,
    handoff) into no bot at all."""
    context = request.app.get(CONTEXT)
    if context is None:
        return _not_ready("not open yet: store, dialogue engine, knowledge base")
    try:
        await asyncio.wait_for(context.store.db.run(_ping), READY_TIMEOUT_S)
    except TimeoutError:
        return _not_ready(f"the database did not answer within {READY_TIMEOUT_S:g} s")
    except Exception as exc:
        log.warning("readiness: the database query failed: %s", exc or type(exc).__name__)
        return _not_ready("the database query failed; the server log has details")
    # How the bot decides to answer from the knowledge base: "fitted" to the base, or one of
    # the documented fallbacks when the base could not be fitted (docs/knowledge.md).
    knowledge = context.kb.answer_decision()
    nlu = request.app[NLU]
    if not nlu.services:
        return web.json_response({"status": "ready", "knowledge": knowledge})
    try:
        degraded = await asyncio.wait_for(asyncio.to_thread(nlu.probe_services), READY_TIMEOUT_S)
    except TimeoutError:
        degraded = {"nlu": f"a service the NLU asks did not answer within {READY_TIMEOUT_S:g} s"}
    if degraded:
        return web.json_response(
            {"status": "degraded", "degraded": degraded, "knowledge": knowledge}
        )
    return web.json_response({"status": "ready", "knowledge": knowledge})


def _ping(session: Session) -> None:
    session.execute(text("SELECT 1"))


def _not_ready(reason: str) -> web.Response:
    return web.json_response({"status": "not_ready", "reason": reason}, status=503)


@web.middleware
async def conversation_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Routes with a `{cid}` (the agent API's conversation actions) log with its id."""
    cid = request.match_info.get("cid")
    if not cid:
        return await handler(request)
    with conversation_context(cid[:MAX_CID_CHARS]):
        return await handler(request)
