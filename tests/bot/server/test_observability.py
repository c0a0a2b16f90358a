"""Observability on the real app: /metrics after real turns and agent actions, /ready, the JSON
log format with the conversation id, and the counters of the outbox and the sockets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Config, config_from_dict
from bot.errors import ConfigError
from bot.logs import (
    ConversationFilter,
    JsonFormatter,
    conversation_context,
    use_log_format,
)
from bot.metrics import Metrics
from bot.nlu.pipeline import NLUPipeline
from bot.server.app import create_app
from bot.server.context import CONTEXT
from bot.store.deliveries import DueDelivery
from bot.store.sql_store import SqlStore
from connectors.outbox import Outbox, Undeliverable
from tests.apps import HOOK, AppFactory, Client, ClientFactory, say

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def client(make_client: AppFactory) -> Client:
    return await make_client(dev_agent_api=True, always_open=True)


async def scrape(client: Client) -> Samples:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    out: Samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


# --- /metrics ---------------------------------------------------------------------------------


async def test_turns_are_counted_by_channel_and_outcome_with_their_latency(client: Client) -> None:
    store = client.app[CONTEXT].store
    assert store is not None
    await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    await say(client, "c1", "你好", message_id="m-1")
    await say(client, "c1", "你好", message_id="m-1")  # a retry: stored once
    await say(client, "c2", "今天天气怎么样")  # out of scope: a failed turn
    await say(client, "c3", "转人工")
    await say(client, "c3", "还在吗")  # queued: the bot listens and says nothing

    m = await scrape(client)
    turns = {
        outcome: value(m, "relaydesk_turns_total", channel="rest", outcome=outcome)
        for outcome in ("answered", "duplicate", "fallback", "handoff", "silent", "error")
    }
    assert turns == {
        "answered": 1,
        "duplicate": 1,
        "fallback": 1,
        "handoff": 1,
        "silent": 1,
        "error": None,
    }
    assert value(m, "relaydesk_turn_latency_seconds_count", channel="rest") == 5
    total = value(m, "relaydesk_turn_latency_seconds_sum", channel="rest")
    assert total is not None and 0 < total < 60
    bounds = {
        float(dict(labels)["le"])
        for name, labels in m
        if name == "relaydesk_turn_latency_seconds_bucket" and ("channel", "rest") in labels
    }
    assert min(bounds) == 0.005 and max(bounds - {float("inf")}) == 5.0
    assert value(m, "relaydesk_turn_latency_seconds_bucket", channel="rest", le="+Inf") == 5


async def test_the_queue_gauges_follow_the_store_at_each_scrape(client: Client) -> None:
    store = client.app[CONTEXT].store
    assert store is not None
    await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    before = await scrape(client)
    assert value(before, "relaydesk_queue_length", skill_group="after_sales") == 0
    assert value(before, "relaydesk_queue_length", skill_group="complaints") == 0

    cid = (await say(client, "c1", "转人工"))[-1]["custom"]["conversation_id"]
    await asyncio.sleep(0.05)
    queued = await scrape(client)
    assert value(queued, "relaydesk_queue_length", skill_group="after_sales") == 1
    assert value(queued, "relaydesk_queue_length", skill_group="complaints") == 0
    waited = value(queued, "relaydesk_queue_longest_wait_seconds", skill_group="after_sales")
    assert waited is not None and 0.04 <= waited < 60
    assert value(queued, "relaydesk_queue_longest_wait_seconds", skill_group="complaints") == 0
    assert (
        value(
            queued, "relaydesk_handoffs_total", reason="explicit_request", skill_group="after_sales"
        )
        == 1
    )

    amy = {"X-Relaydesk-Agent": "amy"}
    claimed = await client.post(f"/api/agent/conversations/{cid}/claim", headers=amy)
    assert claimed.status == 200
    taken = await scrape(client)
    assert value(taken, "relaydesk_queue_length", skill_group="after_sales") == 0

    moved = await client.post(
        f"/api/agent/conversations/{cid}/transfer", json={"skill_group": "billing"}, headers=amy
    )
    assert moved.status == 200
    after = await scrape(client)
    assert value(after, "relaydesk_handoffs_total", reason="transfer", skill_group="billing") == 1
    assert value(after, "relaydesk_queue_length", skill_group="billing") == 1
    assert value(after, "relaydesk_queue_length", skill_group="after_sales") == 0


async def test_error_responses_are_counted_by_class_and_parses_are_timed(client: Client) -> None:
    assert (await client.post("/model/parse", json={"text": "你好"})).status == 200
    assert (await client.post("/model/parse", json={"nope": 1})).status == 400
    assert (await client.get("/no/such/page")).status == 404
    m = await scrape(client)
    assert value(m, "relaydesk_http_errors_total", status_class="4xx") == 2
    assert value(m, "relaydesk_http_errors_total", status_class="5xx") is None
    assert value(m, "relaydesk_parse_latency_seconds_count") == 1  # the failed one is not timed


async def test_a_failed_turn_is_counted_as_an_error(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = client.app[CONTEXT].engine
    assert engine is not None

    def broken(*_args: Any) -> Any:
        raise RuntimeError("the parser broke")

    monkeypatch.setattr(engine, "_understand", broken)
    assert (await client.post(HOOK, json={"sender": "c1", "message": "hi"})).status == 500
    m = await scrape(client)
    assert value(m, "relaydesk_turns_total", channel="rest", outcome="error") == 1
    assert value(m, "relaydesk_http_errors_total", status_class="5xx") == 1


async def test_the_widget_socket_gauge_counts_open_connections(client: Client) -> None:
    assert value(await scrape(client), "relaydesk_websocket_connections", kind="widget") == 0
    ws = await client.ws_connect("/ws/widget")
    await ws.send_json({"type": "hello", "language": "en"})
    welcome = await ws.receive_json(timeout=20)
    assert welcome["type"] == "welcome"
    m = await scrape(client)
    assert value(m, "relaydesk_websocket_connections", kind="widget") == 1
    assert value(m, "relaydesk_websocket_connections", kind="console") == 0
    await ws.close()
    for _ in range(100):
        if value(await scrape(client), "relaydesk_websocket_connections", kind="widget") == 0:
            break
        await asyncio.sleep(0.05)
    assert value(await scrape(client), "relaydesk_websocket_connections", kind="widget") == 0


async def test_apps_do_not_share_counters(
    aiohttp_client: ClientFactory, repo_config: Config, trained: NLUPipeline
) -> None:
    first = await aiohttp_client(create_app(repo_config, trained))
    second = await aiohttp_client(create_app(repo_config, trained))
    assert (await first.post("/model/parse", json={})).status == 400
    assert value(await scrape(first), "relaydesk_http_errors_total", status_class="4xx") == 1
    assert value(await scrape(second), "relaydesk_http_errors_total", status_class="4xx") is None


class _Refusing:
    channel = "telegram"
    label = "Telegram"

    async def send(self, delivery: DueDelivery) -> str | None:
        raise Undeliverable("the customer blocked the bot")


async def test_an_undeliverable_message_counts_as_a_failed_delivery(tmp_path: Path) -> None:
    store = await SqlStore.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    try:
        start = await store.turns.begin("telegram", "42", "hi")
        await store.messages.append(start.conversation.id, "bot", "hello")
        metrics = Metrics()
        outbox = Outbox(store, _Refusing(), metrics=metrics)
        try:
            assert await outbox.run_once() == 1
        finally:
            await outbox.stop()
        failed = metrics.registry.get_sample_value(
            "relaydesk_deliveries_failed_total", {"channel": "telegram"}
        )
        assert failed == 1
    finally:
        await store.close()


# --- /ready -----------------------------------------------------------------------------------


async def test_ready_once_the_runtime_is_open_and_the_database_answers(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    resp = await client.get("/ready")
    body = await resp.json()
    assert (resp.status, body["status"]) == (200, "ready")
    # The sample shop's articles have several phrasings each: its decision is fitted.
    assert body["knowledge"]["decision"] == "fitted" and not body["knowledge"]["fallback"]
    assert body["knowledge"]["answer_precision"] == 0.95
    assert (await client.get("/health")).status == 200

    store = client.app[CONTEXT].store
    assert store is not None

    async def down(_fn: Any) -> Any:
        raise OSError("connection refused")

    monkeypatch.setattr(store.db, "run", down)
    resp = await client.get("/ready")
    body = await resp.json()
    assert resp.status == 503 and body["status"] == "not_ready"
    assert "database" in body["reason"]
    assert (await client.get("/health")).status == 200  # alive, just not ready


async def test_not_ready_before_the_runtime_is_open(
    aiohttp_client: ClientFactory, repo_config: Config, trained: NLUPipeline
) -> None:
    client = await aiohttp_client(create_app(repo_config, trained))  # no dialogue: never opened
    resp = await client.get("/ready")
    body = await resp.json()
    assert resp.status == 503
    assert body["reason"] == "not open yet: store, dialogue engine, knowledge base"
    assert (await client.get("/health")).status == 200


# --- logs -------------------------------------------------------------------------------------


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every record under the `bot` and `handoff` loggers, as the JSON format writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ConversationFilter())
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger("bot"), logging.getLogger("handoff"), logging.getLogger("t")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    yield out
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def records(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_carry_the_conversation_only_inside_its_context(
    json_lines: io.StringIO,
) -> None:
    log = logging.getLogger("t.logs")
    with conversation_context("conv-1"):
        log.info("inside %s", "a turn")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it failed")
    log.warning("outside")
    inside, failed, outside = records(json_lines)
    assert inside["message"] == "inside a turn" and inside["conversation_id"] == "conv-1"
    assert inside["level"] == "INFO" and inside["logger"] == "t.logs"
    assert inside["time"].endswith("Z") and "T" in inside["time"]
    assert failed["conversation_id"] == "conv-1" and failed["level"] == "ERROR"
    assert "ValueError: boom" in failed["exception"] and "Traceback" in failed["exception"]
    assert "conversation_id" not in outside and "exception" not in outside
    assert outside["level"] == "WARNING"


async def test_a_turn_and_an_agent_action_log_with_their_conversation(
    client: Client, json_lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = client.app[CONTEXT].store
    assert store is not None
    await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    finish_turn, active_handoff = store.turns.finish, store.handoffs.active

    async def logged_finish(*args: Any, **kwargs: Any) -> Any:
        logging.getLogger("bot.test").info("finishing a turn")
        return await finish_turn(*args, **kwargs)

    async def logged_lookup(conversation_id: str) -> Any:
        logging.getLogger("handoff.test").info("looking up the handoff")
        return await active_handoff(conversation_id)

    monkeypatch.setattr(store.turns, "finish", logged_finish)
    monkeypatch.setattr(store.handoffs, "active", logged_lookup)
    cid = (await say(client, "c1", "转人工"))[-1]["custom"]["conversation_id"]
    turn = [r for r in records(json_lines) if r["message"] == "finishing a turn"]
    assert [r.get("conversation_id") for r in turn] == [cid]

    json_lines.seek(0)
    json_lines.truncate()
    amy = {"X-Relaydesk-Agent": "amy"}
    assert (await client.post(f"/api/agent/conversations/{cid}/claim", headers=amy)).status == 200
    lookups = [r for r in records(json_lines) if r["message"] == "looking up the handoff"]
    assert lookups and all(r.get("conversation_id") == cid for r in lookups)

    json_lines.seek(0)
    json_lines.truncate()
    await store.handoffs.active(cid)  # outside any request or turn
    assert [r.get("conversation_id") for r in records(json_lines)] == [None]


def test_log_format_json_switches_the_handlers_and_text_keeps_them(
    repo_config: Config,
) -> None:
    assert repo_config.server.log_format == "text"
    logger = logging.Logger("relaydesk-test")
    text_handler = logging.StreamHandler(io.StringIO())
    plain = logging.Formatter("%(message)s")
    text_handler.setFormatter(plain)
    logger.addHandler(text_handler)
    use_log_format("text", logger)
    assert text_handler.formatter is plain

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    use_log_format("json", logger)
    use_log_format("json", logger)  # idempotent: one filter per handler
    assert isinstance(handler.formatter, JsonFormatter)
    assert sum(isinstance(f, ConversationFilter) for f in handler.filters) == 1
    with conversation_context("conv-9"):
        logger.warning("token %s", "redacted")
    line = json.loads(out.getvalue())
    assert line["conversation_id"] == "conv-9" and line["message"] == "token redacted"


def test_log_format_is_text_or_json(repo_config: Config) -> None:
    raw = repo_config.model_dump(exclude={"base_dir"})
    raw["pipeline"] = repo_config.pipeline_spec()
    raw["server"]["log_format"] = "json"
    assert config_from_dict(raw, base_dir=repo_config.base_dir).server.log_format == "json"
    raw["server"]["log_format"] = "xml"
    with pytest.raises(ConfigError, match=r"server\.log_format"):
        config_from_dict(raw, base_dir=repo_config.base_dir)
