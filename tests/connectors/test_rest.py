"""The Rasa-compatible REST channel on the real app, store and models."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient


async def test_replies_in_rasa_shape_with_the_state_in_custom(client: TestClient) -> None:
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "s1", "message": "你好"})
    assert resp.status == 200
    body = await resp.json()
    assert body and body[0]["recipient_id"] == "s1" and body[0]["text"]
    custom = body[0]["custom"]
    assert custom["status"] == "bot" and custom["failed_turns"] == 0
    assert custom["intent"] == "greet" and custom["handoff"] is None
    assert resp.headers["X-Relaydesk-Status"] == "bot"


async def test_a_knowledge_answer_cites_its_article(client: TestClient) -> None:
    resp = await client.post(
        "/webhooks/rest/webhook",
        json={"sender": "s2", "message": "how much is shipping, is it free?"},
    )
    body = await resp.json()
    assert body[-1]["custom"]["kb_article"]["id"].startswith("service/shipping/free-shipping")


async def test_while_queued_the_bot_answers_with_an_empty_list(client: TestClient) -> None:
    from bot.server.context import CONTEXT

    store = client.app[CONTEXT].store
    assert store is not None
    await store.agents.add("ava", "Ava", skills=["after_sales"], status="online")
    first = await client.post("/webhooks/rest/webhook", json={"sender": "s3", "message": "转人工"})
    assert (await first.json())[-1]["custom"]["status"] == "queued"
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "s3", "message": "在吗"})
    assert await resp.json() == []
    assert resp.headers["X-Relaydesk-Status"] == "queued"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"message": "hi"}, 400, "missing field(s): sender"),
        ({"sender": "x"}, 400, "missing field(s): message"),
        ({"sender": "", "message": "hi"}, 400, "'sender' must be a non-empty string"),
        ({"sender": 5, "message": "hi"}, 400, "'sender' must be a non-empty string"),
        ({"sender": "x", "message": 5}, 400, "'message' must be a string"),
        ({"sender": "x", "message": "  "}, 400, "'text' is empty"),
        ({"sender": "x", "message": "hi", "extra": 1}, 400, "unknown field(s): extra"),
        ({"sender": "x" * 201, "message": "hi"}, 400, "longer than 200"),
        ({"sender": "x", "message": "a" * 4001}, 413, "limit is 4000"),
    ],
)
async def test_invalid_payloads_get_a_reason(
    client: TestClient, body: dict[str, Any], status: int, message: str
) -> None:
    resp = await client.post("/webhooks/rest/webhook", json=body)
    assert resp.status == status
    assert message in (await resp.json())["message"]


async def test_replies_carry_increasing_sequence_numbers(client: TestClient) -> None:
    body = await (
        await client.post("/webhooks/rest/webhook", json={"sender": "seq", "message": "你好"})
    ).json()
    seqs = [m["custom"]["seq"] for m in body]
    assert seqs == list(range(2, 2 + len(body)))  # 1 is the customer's own message


async def test_a_long_poll_wakes_with_the_agent_reply(client: TestClient) -> None:
    from bot.server.context import CONTEXT

    runtime = client.app[CONTEXT]
    assert runtime.store is not None and runtime.handoff is not None
    await runtime.store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    queued = await (
        await client.post("/webhooks/rest/webhook", json={"sender": "lp", "message": "转人工"})
    ).json()
    last = queued[-1]["custom"]["seq"]
    token = {"X-Relaydesk-Sender-Token": queued[-1]["custom"]["sender_token"]}
    conversation = queued[-1]["custom"]["conversation_id"]
    await runtime.handoff.claim(conversation, "amy")

    async def agent_replies_later() -> None:
        await asyncio.sleep(0.3)
        await runtime.handoff.send(conversation, "amy", "您好，我是 Amy，请问有什么可以帮您？")

    poll = client.get(
        "/webhooks/rest/messages",
        params={"sender": "lp", "after": last, "wait": 20},
        headers=token,
    )
    resp, _ = await asyncio.gather(poll, agent_replies_later())
    got = await resp.json()
    # The claim's "agent joined" note was already there; the long poll returned it at once.
    assert [m["custom"]["sender"] for m in got] == ["system"]
    after = got[-1]["custom"]["seq"]
    poll = client.get(
        "/webhooks/rest/messages",
        params={"sender": "lp", "after": after, "wait": 20},
        headers={"X-Relaydesk-Sender-Token": resp.headers["X-Relaydesk-Sender-Token"]},
    )
    resp, _ = await asyncio.gather(poll, agent_replies_later())
    got = await resp.json()
    assert [(m["custom"]["sender"], m["text"]) for m in got] == [
        ("agent", "您好，我是 Amy，请问有什么可以帮您？")
    ]
    assert got[0]["custom"]["seq"] == after + 1


async def test_polling_an_unknown_sender_returns_nothing(client: TestClient) -> None:
    from bot.server.context import CONTEXT

    token = client.app[CONTEXT].channels["rest"].auth.sender_token("nobody")
    resp = await client.get(
        "/webhooks/rest/messages", params={"sender": "nobody", "sender_token": token}
    )
    assert resp.status == 200 and await resp.json() == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "'sender' must be a non-empty string"),
        ({"sender": "x", "after": "-1"}, "'after' must be between 0"),
        ({"sender": "x", "after": "two"}, "'after' must be a whole number"),
        ({"sender": "x", "wait": "600"}, "'wait' must be between 0 and 25"),
        ({"sender": "x", "colour": "red"}, "unknown parameter(s): colour"),
    ],
)
async def test_bad_poll_parameters_get_400_with_a_reason(
    client: TestClient, params: dict[str, str], message: str
) -> None:
    resp = await client.get("/webhooks/rest/messages", params=params)
    assert resp.status == 400
    assert message in (await resp.json())["message"]


async def test_the_clients_language_holds_for_a_number_and_a_sticker(client: TestClient) -> None:
    hook = "/webhooks/rest/webhook"
    first = await client.post(
        hook,
        json={"sender": "lang", "message": "202611180042", "metadata": {"language": "en-GB"}},
    )
    body = await first.json()
    assert "Order 202611180042" in body[0]["text"]
    sticker = await (
        await client.post(hook, json={"sender": "lang", "message": "[sticker]"})
    ).json()
    assert "sticker" in sticker[0]["text"] and sticker[0]["custom"]["failed_turns"] == 0
    bad = await client.post(hook, json={"sender": "x", "message": "hi", "metadata": ["en"]})
    assert bad.status == 400 and "metadata" in (await bad.json())["message"]


async def test_a_file_upload_is_a_message_and_only_its_sender_reads_the_file(
    client: TestClient,
) -> None:
    import aiohttp

    png = b"\x89PNG\r\n\x1a\n" + b"\x03" * 100
    form = aiohttp.FormData()
    form.add_field("sender", "up1")
    form.add_field("caption", "屏幕裂了")
    form.add_field("file", png, filename="crack.png", content_type="image/png")
    resp = await client.post("/webhooks/rest/upload", data=form)
    assert resp.status == 200, await resp.text()
    token = resp.headers["X-Relaydesk-Sender-Token"]
    from bot.server.context import CONTEXT

    store = client.app[CONTEXT].store
    assert store is not None
    customer = await store.customers.find("rest", "up1")
    assert customer is not None
    (msg,) = [m for m in await store.messages.of_customer(customer.id) if m.sender == "customer"]
    assert msg.text == "[photo] 屏幕裂了"
    media_id = msg.payload["media"][0]["id"]
    got = await client.get(
        f"/webhooks/rest/media/{media_id}",
        params={"sender": "up1"},
        headers={"X-Relaydesk-Sender-Token": token},
    )
    assert got.status == 200 and await got.read() == png
    other = (
        await (
            await client.post("/webhooks/rest/webhook", json={"sender": "up2", "message": "hi"})
        ).json()
    )[0]["custom"]["sender_token"]
    stranger = await client.get(
        f"/webhooks/rest/media/{media_id}",
        params={"sender": "up2"},
        headers={"X-Relaydesk-Sender-Token": other},
    )
    assert stranger.status == 404
    unsigned = await client.get(f"/webhooks/rest/media/{media_id}", params={"sender": "up1"})
    assert unsigned.status == 401
    exe = aiohttp.FormData()
    exe.add_field("sender", "up1")
    exe.add_field("file", b"MZ" * 50, filename="x.exe", content_type="application/x-msdownload")
    assert (await client.post("/webhooks/rest/upload", data=exe)).status == 415
