"""The widget socket's issue-20 frames on the real app and store: welcome.options from config,
hello.context stored with the parsed browser (C5), typing and delivered/read marks both ways
over the signal bus and store.read_marks (C1, C2, C3)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from bot.config.loading import load_config
from bot.errors import ConfigError
from bot.events import Signal
from bot.server.context import CONTEXT
from connectors.registry import channel_settings
from connectors.web.context import browser_name
from connectors.web.identity import CHANNEL, sender_for, user_hash
from connectors.web.settings import WebSettings
from tests.apps import Client, store_of
from tests.connectors.web.test_widget_socket import (
    SECRET,
    collect,
    connect,
    messages,
    quiet,
    round_trip,
    turn,
)

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
PAGE = {
    "page_url": "https://shop.example/cart?step=2",
    "page_title": "购物车 - Kite shop",
    "referrer": "https://search.example/?q=kites",
    "timezone": "Asia/Shanghai",
    "screen": "412x915",
}


@pytest.mark.parametrize(
    ("ua", "short"),
    [
        (ANDROID_CHROME, "Chrome 120 on Android"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            "Safari 17 on iOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/121.0.0.0 Safari/537.36 Edg/121.0.2277.83",
            "Edge 121 on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.2; rv:122.0) Gecko/20100101 Firefox/122.0",
            "Firefox 122 on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13; V2227A) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/111.0 Mobile Safari/537.36 MicroMessenger/8.0.44.2502",
            "WeChat 8 on Android",
        ),
        ("curl/8.5.0", "Other browser"),
        (None, None),
    ],
)
def test_the_user_agent_is_cut_to_what_an_agent_reads(ua: str | None, short: str | None) -> None:
    assert browser_name(ua) == short


def test_a_topic_without_a_chinese_title_is_refused_at_start_naming_the_key() -> None:
    config = load_config("config.yml")
    config.connectors["web"]["topics"][1] = {"en": "Returns", "payload": "/question_returns"}
    config.connectors["web"]["greeting"] = {"zh": "你好", "fr": "Bonjour"}
    with pytest.raises(ConfigError) as err:
        channel_settings(config)
    assert "connectors.web.topics[1].zh" in str(err.value)
    assert "connectors.web.greeting.fr" in str(err.value)


async def test_welcome_carries_greeting_reply_time_and_topics_in_the_hellos_language(
    client: Client,
) -> None:
    _, zh = await connect(client, language="zh")
    _, en = await connect(client, language="en")
    zh_options, en_options = zh[0]["options"], en[0]["options"]
    assert zh_options["greeting"].startswith("您好") and en_options["greeting"].startswith("Hi")
    assert "5 分钟" in zh_options["reply_time"] and "5 minutes" in en_options["reply_time"]
    assert [t["title"] for t in zh_options["topics"]] == ["查订单", "退换货", "转人工"]
    assert en_options["topics"][2] == {"title": "Talk to a person", "payload": "/request_human"}
    assert zh_options["telegram"] is False  # no Telegram connected here: no button
    assert en_options["notify"] == {"sound": False, "auto_open": "agent"}


async def test_the_hello_context_is_stored_with_the_browser_and_the_verified_identity(
    widget_client: Callable[..., Awaitable[Client]],
) -> None:
    client = await widget_client(identity_secret=SECRET)
    ts = int(time.time())
    ws = await client.ws_connect("/ws/widget", headers={"User-Agent": ANDROID_CHROME})
    await ws.send_json(
        {
            "type": "hello",
            "token": None,
            "after": 0,
            "language": "zh",
            "context": PAGE,
            "user_id": "u-3001",
            "user_ts": ts,
            "user_hash": user_hash(SECRET, "u-3001", ts),
        }
    )
    first = await round_trip(ws)
    assert [f["type"] for f in first][:1] == ["welcome"]
    store = store_of(client)
    await turn(ws, "你好", client_id="c1")
    customer = await store.customers.find(CHANNEL, sender_for(first[0]["token"]))
    assert customer is not None
    got = await store.web_context.latest(customer.id)
    assert got is not None
    assert (got.page_url, got.page_title, got.referrer) == (
        PAGE["page_url"],
        PAGE["page_title"],
        PAGE["referrer"],
    )
    assert (got.timezone, got.screen, got.language) == ("Asia/Shanghai", "412x915", "zh")
    assert got.browser == "Chrome 120 on Android" and got.user_agent == ANDROID_CHROME
    assert got.identity == "u-3001"


async def test_a_visitor_who_only_looks_leaves_no_context_and_a_bad_one_is_refused(
    client: Client,
) -> None:
    ws, frames = await connect(client, context=PAGE)
    store = store_of(client)
    assert await store.customers.find(CHANNEL, sender_for(frames[0]["token"])) is None
    ws, frames = await connect(client, context={**PAGE, "page_title": "x" * 501})
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == "bad_context" and "context.page_title" in error["message"]
    await turn(ws, "hello", client_id="after-bad")  # the chat goes on without it
    customer = await store.customers.find(CHANNEL, sender_for(frames[0]["token"]))
    assert customer is not None and await store.web_context.latest(customer.id) is None


async def test_typing_and_marks_go_both_ways(client: Client) -> None:
    ws, frames = await connect(client, language="en")
    token = frames[0]["token"]
    got = await turn(ws, "hello", client_id="c1")
    bot = messages(got)[-1]
    cid = bot["conversation_id"]
    context = client.app[CONTEXT]
    heard: list[Signal] = []
    context.signals.subscribe(heard.append, cid)

    # Customer typing: one `on` per burst reaches the bus, then `off`.
    for on in (True, True, False, False):
        await ws.send_json({"type": "typing", "on": on})
    assert await round_trip(ws) == []
    typing = [s for s in heard if s.kind == "typing"]
    assert [(s.sender, s.data["on"]) for s in typing] == [("customer", True), ("customer", False)]

    # Received and read move the customer's marks, once; a receipt says so.
    await ws.send_json({"type": "received", "conversation_id": cid, "up_to": bot["id"]})
    await ws.send_json({"type": "read", "conversation_id": cid, "up_to": bot["id"]})
    await ws.send_json({"type": "read", "conversation_id": cid, "up_to": bot["id"]})
    assert await round_trip(ws) == []
    marks = (await store_of(client).read_marks.get(cid))["customer"]
    assert marks.read_up_to == bot["id"] and marks.received_up_to == bot["id"]
    receipts = [s.data for s in heard if s.kind == "receipt"]
    assert receipts == [
        {"received_up_to": bot["id"], "read_up_to": None},
        {"received_up_to": bot["id"], "read_up_to": bot["id"]},
    ]
    # Marks beyond what this page was sent are cut to it; other conversations are refused.
    await ws.send_json({"type": "read", "conversation_id": cid, "up_to": bot["id"] + 50})
    assert await round_trip(ws) == []
    assert (await store_of(client).read_marks.get(cid))["customer"].read_up_to == bot["id"]
    for bad in (
        {"type": "read", "conversation_id": "f" * 32, "up_to": 1},
        {"type": "read", "conversation_id": cid, "up_to": "7"},
        {"type": "typing", "on": "yes"},
    ):
        await ws.send_json(bad)
        [error] = await round_trip(ws)
        assert error["type"] == "error", bad

    # Agents typing and reading reach the widget.
    await context.signals.publish(Signal(cid, "typing", "agent", {"on": True, "name": "Amy"}))
    frame = (await collect(ws, lambda f: bool(f) and f[-1]["type"] == "typing"))[-1]
    assert frame == {"type": "typing", "on": True, "who": "agent", "name": "Amy"}
    mine = next(m for m in messages(got) if m["sender"] == "customer")
    await store_of(client).read_marks.mark(cid, "agent", read_up_to=mine["id"])
    await context.signals.publish(
        Signal(cid, "receipt", "agent", {"received_up_to": mine["id"], "read_up_to": mine["id"]})
    )
    frame = (await collect(ws, lambda f: bool(f) and f[-1]["type"] == "receipt"))[-1]
    assert frame == {
        "type": "receipt",
        "conversation_id": cid,
        "read_up_to": mine["id"],
        "received_up_to": mine["id"],
    }
    # The customer's own signals are not echoed back to them.
    await context.signals.publish(Signal(cid, "typing", "customer", {"on": True, "name": None}))
    assert [f for f in await quiet(ws) if f["type"] == "typing"] == []

    # A reconnecting page is told the agents' marks at once.
    again, frames = await connect(client, token=token, after=bot["id"])
    assert frames[-1] == frame
    await asyncio.gather(ws.close(), again.close())


def test_continue_in_telegram_is_offered_only_when_telegram_can_link() -> None:
    web = channel_settings(load_config("config.yml"))["web"]
    assert isinstance(web, WebSettings)
    assert web.options("en", telegram=True)["telegram"] is True
    assert web.options("zh", telegram=False)["telegram"] is False
