"""The Telegram connector end to end: the real app and the real python-telegram-bot, against a
local server that speaks the Bot API (tests/standins/telegram_api.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from bot.dialogue.inbound import shared_location
from bot.privacy import PHONE
from bot.server.context import CONTEXT
from bot.store.deliveries import Deliveries
from bot.store.records import ConversationRecord, MessageRecord
from bot.store.sql_store import SqlStore
from bot.store.turns import masked_shared
from tests.apps import AppFactory, Client, RawEdit, store_of
from tests.standins.telegram_api import SECRET_TOKEN_HEADER, TelegramStandIn

TOKEN = "123456:relaydesk-test-token"
SECRET = "s3cret-webhook-token"
CHAT = 4242


@pytest.fixture
async def tg() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn(token=TOKEN) as standin:
        yield standin


def polling_against(tg: TelegramStandIn, **telegram: Any) -> RawEdit:
    """A config edit: Telegram on, in polling mode against the stand-in, `telegram` over it."""

    def edit(raw: dict[str, Any]) -> None:
        raw["connectors"]["telegram"] = {
            "enabled": True,
            "token": TOKEN,
            "base_url": tg.base_url,
            "base_file_url": tg.base_file_url,
            "mode": "polling",
            "polling_timeout_seconds": 1,
            "delivery": {"first_backoff_seconds": 0.05, "max_backoff_seconds": 0.2},
            **telegram,
        }

    return edit


async def start(make_client: AppFactory, tg: TelegramStandIn, **telegram: Any) -> Client:
    """The app with Telegram against the stand-in (dev agent API on), once the connector is up."""
    edit = polling_against(tg, **telegram)
    client = await make_client(dev_agent_api=True, always_open=True, edit=edit)
    connector = client.app[CONTEXT].channels["telegram"].connector
    assert connector is not None
    await asyncio.wait_for(connector.ready.wait(), 10)
    return client


@pytest.fixture
async def client(make_client: AppFactory, tg: TelegramStandIn) -> Client:
    """The server with Telegram in polling mode against the stand-in."""
    return await start(make_client, tg)


async def chat_conversation(store: SqlStore, chat: int = CHAT) -> ConversationRecord:
    customer = await store.customers.find("telegram", str(chat))
    assert customer is not None
    conv = await store.conversations.latest(customer.id, "telegram")
    assert conv is not None
    return conv


async def customer_texts(store: SqlStore, chat: int = CHAT) -> list[str]:
    customer = await store.customers.find("telegram", str(chat))
    if customer is None:
        return []
    return [m.text for m in await store.messages.of_customer(customer.id) if m.sender == "customer"]


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_polling_answers_in_order_and_never_takes_an_update_twice(
    client: Client, tg: TelegramStandIn
) -> None:
    assert [c.params.get("url", "") for c in tg.calls_of("deleteWebhook")] == [""]
    tg.push_message(CHAT, "你好")
    tg.push_message(CHAT, "满多少包邮")
    await tg.wait_for_sent(2, chat_id=CHAT)
    await tg.wait_for_calls("sendChatAction")
    store = store_of(client)
    await wait_until(lambda: _n_texts(store, 2))
    assert await customer_texts(store) == ["你好", "满多少包邮"]
    # The second poll confirmed the first batch: nothing is handed over again.
    await asyncio.sleep(1.2)
    assert await customer_texts(store) == ["你好", "满多少包邮"]
    replies = tg.sent_texts(CHAT)
    assert len(replies) == len(set(replies)) >= 2


async def _n_texts(store: SqlStore, n: int) -> bool:
    return len(await customer_texts(store)) >= n


async def test_the_webhook_needs_the_secret_and_takes_a_redelivered_update_once(
    make_client: AppFactory, tg: TelegramStandIn
) -> None:
    client = await start(
        make_client,
        tg,
        mode="webhook",
        secret_token=SECRET,
        webhook_url="http://127.0.0.1:9/webhooks/telegram",
    )
    [hook] = tg.calls_of("setWebhook")
    assert hook.params["secret_token"] == SECRET
    assert hook.params["url"] == "http://127.0.0.1:9/webhooks/telegram"

    update = {
        "update_id": 910001,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": CHAT, "type": "private", "first_name": "Li"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Li"},
            "text": "退款多久到账",
        },
    }
    store = store_of(client)
    for headers in ({}, {SECRET_TOKEN_HEADER: "wrong"}, {SECRET_TOKEN_HEADER: SECRET + "x"}):
        resp = await client.post("/webhooks/telegram", json=update, headers=headers)
        assert resp.status == 403
    assert await customer_texts(store) == []

    good = {SECRET_TOKEN_HEADER: SECRET}
    for _ in range(2):  # Telegram redelivers when it did not see our 200 in time
        resp = await client.post("/webhooks/telegram", json=update, headers=good)
        assert resp.status == 200
    assert await customer_texts(store) == ["退款多久到账"]
    await tg.wait_for_sent(1, chat_id=CHAT)
    await asyncio.sleep(0.3)
    assert len(tg.sent(CHAT)) == 1  # the reply went out once

    # A replay racing the original (two deliveries at once, to one instance or two).
    again = {**update, "update_id": 910002, "message": {**update["message"], "text": "在吗"}}
    racing = await asyncio.gather(
        *(client.post("/webhooks/telegram", json=again, headers=good) for _ in range(3))
    )
    assert [r.status for r in racing] == [200, 200, 200]
    assert await customer_texts(store) == ["退款多久到账", "在吗"]
    await tg.wait_for_sent(2, chat_id=CHAT)
    await asyncio.sleep(0.3)
    assert len(tg.sent(CHAT)) == 2

    bad = await client.post("/webhooks/telegram", data=b"{not json", headers=good)
    assert bad.status == 400
    no_id = await client.post("/webhooks/telegram", json={"message": {}}, headers=good)
    assert no_id.status == 400 and "update_id" in (await no_id.json())["message"]


async def test_flood_control_is_honoured_and_5xx_retried(
    client: Client, tg: TelegramStandIn
) -> None:
    tg.fail_next("sendMessage", status=429, retry_after=1)
    tg.fail_next("sendMessage", status=500, times=2)
    started = time.monotonic()
    tg.push_message(CHAT, "你好")
    [sent] = await tg.wait_for_sent(1, chat_id=CHAT, timeout=10)
    assert time.monotonic() - started >= 1.0  # waited out retry_after
    attempts = tg.calls_of("sendMessage")
    assert [c.status for c in attempts][:4] == [429, 500, 500, 200]
    store = store_of(client)
    conv = await chat_conversation(store)
    states = await Deliveries(store.db).states(conv.id)
    first = states[min(states)]
    assert first.status == "sent" and first.attempts == 4 and first.via == "api"
    assert sent.params["text"]


async def test_a_blocked_bot_is_recorded_and_shown_to_the_agent(
    client: Client, tg: TelegramStandIn
) -> None:
    store = store_of(client)
    await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    tg.push_message(CHAT, "转人工")
    await tg.wait_for_sent(1, chat_id=CHAT)
    conv = await chat_conversation(store)
    amy = {"X-Relaydesk-Agent": "amy"}
    assert (await client.post(f"/api/agent/conversations/{conv.id}/claim", headers=amy)).ok
    await wait_until(_settled(store, conv.id))  # "Amy joined" reached the customer first
    tg.block(CHAT)
    resp = await client.post(
        f"/api/agent/conversations/{conv.id}/send", headers=amy, json={"text": "您好，我是 Amy"}
    )
    assert resp.status == 200

    async def failed_shown() -> bool:
        view = await (await client.get(f"/api/agent/conversations/{conv.id}", headers=amy)).json()
        return any(m["payload"].get("event") == "delivery_failed" for m in view["messages"])

    await wait_until(failed_shown)
    view = await (await client.get(f"/api/agent/conversations/{conv.id}", headers=amy)).json()
    mine = next(m for m in view["messages"] if m["text"] == "您好，我是 Amy")
    assert mine["delivery"]["status"] == "failed"
    assert "blocked" in mine["delivery"]["error"]
    [notice] = [m for m in view["messages"] if m["payload"].get("event") == "delivery_failed"]
    assert notice["sender"] == "system" and notice["payload"]["message_id"] == mine["id"]
    # The notice is for the agent only: it never gets a delivery of its own.
    assert notice["delivery"] is None
    await asyncio.sleep(0.3)
    assert all(c.params.get("text") != notice["text"] for c in tg.calls_of("sendMessage"))


async def test_three_failed_turns_hand_over_and_the_agent_reply_reaches_telegram(
    client: Client, tg: TelegramStandIn
) -> None:
    store = store_of(client)
    await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    for i, text in enumerate(["qwzx plorb", "vrrm kzzt blaf", "xyzzy frobnicate quux"]):
        tg.push_message(CHAT, text)
        await wait_until(lambda n=i + 1: _n_texts(store, n))  # type: ignore[misc]
    conv = await chat_conversation(store)

    async def queued() -> bool:
        return (await store.conversations.get(conv.id)).status == "queued"

    await wait_until(queued)
    amy = {"X-Relaydesk-Agent": "amy"}
    queue = await (await client.get("/api/agent/queue", headers=amy)).json()
    [item] = [q for q in queue["queue"] if q["conversation_id"] == conv.id]
    assert item["channel"] == "telegram" and item["reason"] == "failed_turns"
    assert (await client.post(f"/api/agent/conversations/{conv.id}/claim", headers=amy)).ok
    resp = await client.post(
        f"/api/agent/conversations/{conv.id}/send", headers=amy, json={"text": "Amy here, hi!"}
    )
    assert resp.status == 200

    async def arrived() -> bool:
        return "Amy here, hi!" in tg.sent_texts(CHAT)

    await wait_until(arrived)
    texts = tg.sent_texts(CHAT)
    # In the order they were said: the queue notice, the agent joining, the agent's reply.
    assert texts.index("Amy here, hi!") > max(
        i for i, t in enumerate(texts) if "Amy" in t and t != "Amy here, hi!"
    )


async def test_a_button_press_is_answered_and_handled_and_knowledge_media_uploaded(
    client: Client, tg: TelegramStandIn
) -> None:
    tg.push_message(CHAT, "How long does delivery take?", language_code="en")
    await tg.wait_for_calls("sendDocument", 1, timeout=10)
    [doc] = tg.calls_of("sendDocument")
    [upload] = doc.files.values()
    assert upload.filename.endswith(".svg") and upload.size > 100
    answer = next(c for c in tg.sent(CHAT) if c.method == "sendMessage")
    assert "16:00" in answer.params["text"]

    tg.push_callback(CHAT, "/request_human")
    await tg.wait_for_calls("answerCallbackQuery", 1)
    store = store_of(client)
    await wait_until(lambda: _n_texts(store, 2))
    assert (await customer_texts(store))[-1] == "/request_human"


async def test_buttons_become_an_inline_keyboard(client: Client, tg: TelegramStandIn) -> None:
    store = store_of(client)
    tg.push_message(CHAT, "hello")
    await tg.wait_for_sent(1, chat_id=CHAT)
    conv = await chat_conversation(store)
    await store.messages.append(
        conv.id,
        "bot",
        "Anything else?",
        payload={"buttons": [{"title": "Talk to a person", "payload": "/request_human"}]},
    )
    await wait_until(_sent_text(tg, "Anything else?"))
    call = next(c for c in tg.sent(CHAT) if c.params.get("text") == "Anything else?")
    keyboard = call.params["reply_markup"]
    if isinstance(keyboard, str):
        keyboard = json.loads(keyboard)
    [[button]] = keyboard["inline_keyboard"]
    assert button == {"text": "Talk to a person", "callback_data": "/request_human"}


def _settled(store: SqlStore, conversation_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        states = await Deliveries(store.db).states(conversation_id)
        return all(s.status != "pending" for s in states.values())

    return check


def _sent_text(tg: TelegramStandIn, text: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return text in tg.sent_texts(CHAT)

    return check


async def test_a_web_customer_continues_on_telegram_with_one_history(
    client: Client, tg: TelegramStandIn
) -> None:
    store = store_of(client)
    await store.agents.add("sue", "Sue", role="supervisor", status="online")
    ws = await client.ws_connect("/ws/widget")
    await ws.send_json({"type": "hello", "token": None, "after": 0, "language": "zh"})
    await ws.send_json({"type": "message", "text": "满多少包邮", "client_id": "w1"})
    await ws.send_json({"type": "link", "channel": "telegram"})
    link = None
    while link is None:
        frame = await ws.receive_json(timeout=10)
        if frame["type"] == "link":
            link = frame
    assert link["url"] == f"https://t.me/relaydesk_test_bot?start={link['code']}"
    await ws.close()

    tg.push_message(CHAT, f"/start {link['code']}")
    await tg.wait_for_sent(1, chat_id=CHAT)
    tg.push_message(CHAT, "我的订单到哪了")
    await wait_until(lambda: _n_texts(store, 2))

    web_customer = await store.customers.find("telegram", str(CHAT))
    assert web_customer is not None
    sue = {"X-Relaydesk-Agent": "sue"}
    profile = await (
        await client.get(f"/api/agent/customers/{web_customer.id}", headers=sue)
    ).json()
    said = [(m["channel"], m["text"]) for m in profile["history"] if m["sender"] == "customer"]
    assert ("web", "满多少包邮") in said and ("telegram", "我的订单到哪了") in said
    assert {c["channel"] for c in profile["conversations"]} == {"web", "telegram"}

    # A code works once: another chat using it stays a separate customer.
    tg.push_message(CHAT + 1, f"/start {link['code']}")
    await tg.wait_for_sent(1, chat_id=CHAT + 1)
    other = await store.customers.find("telegram", str(CHAT + 1))
    assert other is not None and other.id != web_customer.id


async def test_non_text_messages_and_commands_in_the_users_language_never_fail(
    client: Client, tg: TelegramStandIn
) -> None:
    """A user whose app is in English sends a photo, a sticker and /help: each is answered in
    English, none counts as a failed turn, and nobody is handed over."""
    chat = 4242
    tg.push_photo(chat, language_code="en")
    await tg.wait_for_sent(1, chat_id=chat)
    user = tg.push_message(chat, "/help", language_code="en")["message"]["from"]
    await tg.wait_for_sent(2, chat_id=chat)
    sticker = {"file_id": "CAACAgIAAxkBAA1", "file_unique_id": "AgAD1", "type": "regular"}
    sticker |= {"width": 512, "height": 512, "is_animated": False, "is_video": False}
    tg.push_update(
        {
            "message": {
                "message_id": 99,
                "from": user,
                "chat": {"id": chat, "type": "private", "first_name": "Test"},
                "date": int(time.time()),
                "sticker": sticker,
            }
        }
    )
    await tg.wait_for_sent(3, chat_id=chat)
    photo, helped, sticker_reply = tg.sent_texts(chat)[:3]
    assert "picture" in photo and "/human" in helped and "sticker" in sticker_reply
    conv = await chat_conversation(store_of(client), chat)
    assert conv.language == "en" and conv.failed_turns == 0 and conv.status == "bot"
    assert await customer_texts(store_of(client), chat) == ["[photo]", "/help", "[sticker]"]


# -- files: a customer's photo fetched with getFile and kept in the media store with its message,
# shown to an agent who may see it and to nobody else; a file that cannot be fetched leaves the
# message and a note; an agent's picture goes out as a photo, a PDF as a document.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 200
SUPER = {"X-Relaydesk-Agent": "sam"}


async def _customer_messages(client: Client, n: int) -> list[MessageRecord]:
    store = store_of(client)

    async def stored() -> bool:
        return len(await customer_texts(store)) >= n

    await wait_until(stored, timeout=10)
    conv = await chat_conversation(store)
    return [m for m in await store.messages.of(conv.id) if m.sender == "customer"]


async def test_a_photo_is_fetched_stored_with_its_message_and_shown_to_agents_only(
    client: Client, tg: TelegramStandIn
) -> None:
    store = store_of(client)
    await store.agents.add("sam", "Sam", role="supervisor", status="online")
    await store.agents.add("ann", "Ann", skills=["pre_sales"], status="online")
    update = tg.push_photo(CHAT, "屏幕裂了")
    (msg,) = await _customer_messages(client, 1)
    assert msg.text == "[photo] 屏幕裂了"  # the marker convention stays
    (ref,) = msg.payload["media"]
    largest = update["message"]["photo"][-1]
    (record,) = await store.media.of_message(msg.id)
    assert (ref["id"], ref["kind"], ref["mime_type"]) == (record.id, "image", "image/jpeg")
    assert record.channel_file_id == largest["file_id"] and record.size == largest["file_size"]
    assert [c.params["file_id"] for c in tg.calls_of("getFile")] == [largest["file_id"]]

    resp = await client.get(f"/api/media/{record.id}", headers=SUPER)
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert len(await resp.read()) == record.size
    # Not in Ann's queue or chats, nobody logged in, an unknown id: nothing is served.
    assert (
        await client.get(f"/api/media/{record.id}", headers={"X-Relaydesk-Agent": "ann"})
    ).status == 403
    assert (await client.get(f"/api/media/{record.id}")).status == 401
    assert (await client.get("/api/media/" + "0" * 32, headers=SUPER)).status == 404
    view = await (
        await client.get(f"/api/agent/conversations/{msg.conversation_id}", headers=SUPER)
    ).json()
    shown = next(m for m in view["messages"] if m["id"] == msg.id)
    assert shown["payload"]["media"][0]["id"] == record.id


async def test_a_venue_and_a_contact_keep_their_marker_and_their_details(
    client: Client, tg: TelegramStandIn
) -> None:
    """A venue (a location with a title and address) and a contact card: the transcript keeps
    "[location]" and "[contact]", the payload the coordinates, label and address, the name and
    the phone number, which is masked like the text when transcripts are masked."""
    user = {"id": CHAT, "is_bot": False, "first_name": "Li", "language_code": "zh"}
    base = {"from": user, "chat": {"id": CHAT, "type": "private", "first_name": "Li"}}
    where = {"latitude": 31.230416, "longitude": 121.473701}
    venue = {"location": where, "title": "门店", "address": "南京东路 100 号"}
    tg.push_update(
        {"message": {**base, "message_id": 71, "date": 1, "location": where, "venue": venue}}
    )
    card = {"phone_number": "+8613800138000", "first_name": "Wang", "last_name": "Wei"}
    tg.push_update({"message": {**base, "message_id": 72, "date": 2, "contact": card}})
    place, contact = await _customer_messages(client, 2)
    assert (place.text, contact.text) == ("[location]", "[contact]")
    assert place.payload["location"] == {
        "lat": 31.230416,
        "lon": 121.473701,
        "label": "门店",
        "address": "南京东路 100 号",
    }
    assert contact.payload["contact"] == {"name": "Wang Wei", "phone": "+8613800138000"}
    masked = masked_shared(contact.payload)
    assert masked["contact"] == {"name": "Wang Wei", "phone": PHONE}
    assert shared_location(91, 0) is None and shared_location("x", 1) is None


async def test_a_file_that_cannot_be_fetched_leaves_the_message_and_a_note(
    client: Client, tg: TelegramStandIn
) -> None:
    tg.fail_next("getFile", 500)
    tg.push_photo(CHAT)
    tg.push_document(CHAT, b"MZ\x90\x00" * 50, "setup.exe", "application/x-msdownload", "装不上")
    first, second = await _customer_messages(client, 2)
    assert first.text == "[photo]"
    assert "could not fetch the file" in first.payload["media"][0]["error"]
    assert second.text == "[document] 装不上"
    assert "not allowed" in second.payload["media"][0]["error"]
    assert await store_of(client).media.of_conversation(first.conversation_id) == []


async def test_an_agents_picture_goes_out_as_a_photo_and_a_pdf_as_a_document(
    client: Client, tg: TelegramStandIn
) -> None:
    store = store_of(client)
    await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    tg.push_message(CHAT, "转人工")
    await tg.wait_for_sent(1, chat_id=CHAT)
    conv = await chat_conversation(store)
    amy = {"X-Relaydesk-Agent": "amy"}
    claimed = await client.post(f"/api/agent/conversations/{conv.id}/claim", headers=amy)
    assert claimed.ok, await claimed.text()

    form = aiohttp.FormData()
    form.add_field("file", PNG, filename="label.png", content_type="image/png")
    form.add_field("text", "这是退货标签")
    resp = await client.post(
        f"/api/agent/conversations/{conv.id}/attachments", headers=amy, data=form
    )
    assert resp.status == 201, await resp.text()
    sent = (await resp.json())["message"]
    assert sent["text"] == "这是退货标签" and sent["payload"]["media"][0]["kind"] == "image"
    (photo,) = await tg.wait_for_calls("sendPhoto", 1, timeout=10)
    (upload,) = photo.files.values()
    assert upload.data == PNG and upload.filename == "label.png"
    assert "这是退货标签" in tg.sent_texts(CHAT)

    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4\n" + b"0" * 100, filename="invoice.pdf")
    resp = await client.post(
        f"/api/agent/conversations/{conv.id}/attachments", headers=amy, data=form
    )
    assert resp.status == 201, await resp.text()
    (doc,) = await tg.wait_for_calls("sendDocument", 1, timeout=10)
    assert next(iter(doc.files.values())).filename == "invoice.pdf"
