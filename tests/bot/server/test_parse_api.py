"""POST /model/parse and friends on the real aiohttp app, started on a random port."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.nlu.pipeline import NLUPipeline
from tests.apps import AppFactory, Client


@pytest.fixture
async def client(make_client: AppFactory) -> Client:
    """The app without the dialogue (the store is never opened): parsing only."""
    return await make_client(dialogue=False)


async def test_parse_returns_rasa_shape_with_sentiment_and_language(client: TestClient) -> None:
    resp = await client.post("/model/parse", json={"text": "订单202611180042到哪了，急死了"})
    assert resp.status == 200
    body = await resp.json()
    assert body["text"] == "订单202611180042到哪了，急死了"
    assert body["intent"]["name"] == "order_status"
    assert 0 < body["intent"]["confidence"] <= 1
    assert len(body["intent_ranking"]) == 10
    assert body["entities"][0] == {
        "entity": "order_id",
        "value": "202611180042",
        "start": 2,
        "end": 14,
        "extractor": "RegexEntityExtractor",
    }
    assert body["sentiment"]["label"] == "negative"
    assert body["sentiment"]["emotion"] == "urgent"
    assert body["language"] == "zh"


async def test_message_id_is_echoed(client: TestClient) -> None:
    resp = await client.post("/model/parse", json={"text": "hi", "message_id": "m-1"})
    assert (await resp.json())["message_id"] == "m-1"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "empty"),
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe{}", 400, "not UTF-8"),
        (b'["hi"]', 400, "must be a JSON object"),
        (b"{}", 400, "missing field(s): text"),
        (b'{"text": ""}', 400, "'text' is empty"),
        (b'{"text": "   "}', 400, "'text' is empty"),
        (b'{"text": 42}', 400, "'text' must be a string"),
        (b'{"text": null}', 400, "'text' must be a string"),
        (b'{"text": "hi", "txt": "x"}', 400, "unknown field(s): txt"),
        (b'{"text": "hi", "message_id": 5}', 400, "'message_id' must be a string"),
        (json.dumps({"text": "a" * 4001}).encode(), 413, "limit is 4000"),
    ],
)
async def test_bad_requests_get_a_clear_reason(
    client: TestClient, body: bytes, status: int, message: str
) -> None:
    resp = await client.post("/model/parse", data=body)
    assert resp.status == status
    payload = await resp.json()
    assert payload["status"] == "failure"
    assert payload["code"] == status
    assert message in payload["message"]


async def test_a_body_over_the_byte_limit_is_refused_with_413(
    make_client: AppFactory,
) -> None:
    def small_bodies(raw: dict[str, Any]) -> None:
        raw["server"]["max_body_bytes"] = 2048

    client = await make_client(dialogue=False, edit=small_bodies)
    resp = await client.post("/model/parse", data=json.dumps({"text": "我" * 3000}))
    assert resp.status == 413
    assert "2048 bytes" in (await resp.json())["message"]


@pytest.mark.parametrize(
    "text",
    [
        "hello\x00\x01\x1b[31m",
        "😀👍🏽 thanks!!",
        "שלום, איפה ההזמנה",
        "‮reversed‬ 你好 mixed",
        "a" * 4000,
    ],
)
async def test_odd_but_valid_text_parses(client: TestClient, text: str) -> None:
    resp = await client.post("/model/parse", json={"text": text})
    assert resp.status == 200
    assert (await resp.json())["text"] == text


async def test_unknown_routes_and_methods_answer_in_json(client: TestClient) -> None:
    resp = await client.get("/model/parse")
    assert resp.status == 405
    assert (await resp.json())["status"] == "failure"
    resp = await client.get("/no/such/route")
    assert resp.status == 404
    assert (await resp.json())["code"] == 404


async def test_status_version_and_health(client: TestClient, trained: NLUPipeline) -> None:
    status = await (await client.get("/status")).json()
    assert status["model_id"] == trained.metadata["fingerprint"]
    assert "question_product" in status["intents"]
    assert (await (await client.get("/version")).json())["version"]
    assert (await (await client.get("/health")).json()) == {"status": "ok"}


async def test_concurrent_requests_each_get_their_own_answer(client: TestClient) -> None:
    import asyncio

    texts = [f"where is my order 2026111800{i:02d}" for i in range(30)]
    responses = await asyncio.gather(
        *(client.post("/model/parse", json={"text": t}) for t in texts)
    )
    bodies = [await r.json() for r in responses]
    assert [b["text"] for b in bodies] == texts
    assert [b["entities"][0]["value"] for b in bodies] == [t.split()[-1] for t in texts]


async def test_index_lists_the_endpoints(client: TestClient) -> None:
    body = await (await client.get("/")).json()
    assert body["name"] == "relaydesk"
    assert "POST /model/parse" in body["endpoints"]
