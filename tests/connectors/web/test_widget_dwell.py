"""The widget's `dwell` frame on the real app and store (issue 21, D7): the dwell settings sent in
welcome.options, the frame checked field by field, one `page_dwell` customer event per page view
(again on the same socket, or after a reconnect, is stored once), a visitor who never wrote made
known by it, and the socket watching a conversation so a proactive message reaches it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import ValidationError

from bot.events import LocalMessageBus
from bot.store.customer_events import CustomerEvent
from connectors.web.identity import CHANNEL, sender_for
from connectors.web.settings import Dwell, WebSettings
from tests.apps import Client, store_of
from tests.connectors.web.test_widget_socket import collect, connect, quiet, round_trip

PAGE = "https://shop.example.com/products/kite-x5?color=blue"
TOKEN = "dwell-token-0123456789abcdef0123"


def dwell(**fields: Any) -> dict[str, Any]:
    return {"type": "dwell", "page_url": PAGE, "seconds": 300, "view_id": "view-1", **fields}


async def events_of(client: Client, token: str = TOKEN) -> list[CustomerEvent]:
    store = store_of(client)
    customer = await store.customers.find(CHANNEL, sender_for(token))
    if customer is None:
        return []
    return await store.customer_events.of_customer(customer.id)


def test_the_dwell_settings_are_checked_naming_the_key() -> None:
    assert Dwell().path_pattern == "/products/" and Dwell().seconds == 300
    for bad in ({"path_pattern": "products"}, {"seconds": 0}, {"path_pattern": "/a b/"}, {"x": 1}):
        with pytest.raises(ValidationError):
            WebSettings.model_validate({"dwell": bad})


async def test_welcome_carries_the_dwell_settings(
    client: Client, widget_client: Callable[..., Awaitable[Client]]
) -> None:
    _, frames = await connect(client)
    assert frames[0]["options"]["dwell"] == {"path_pattern": "/products/", "seconds": 300}
    off = await widget_client(dwell={"enabled": False})
    ws, frames = await connect(off, token=TOKEN)
    assert frames[0]["options"]["dwell"] is None
    await ws.send_json(dwell())
    [error] = await round_trip(ws)
    assert error["type"] == "error" and "not enabled" in error["message"]
    assert await events_of(off) == []


async def test_a_visitors_dwell_is_recorded_once_per_page_view(client: Client) -> None:
    store = store_of(client)
    sender = sender_for(TOKEN)
    ws, _ = await connect(
        client,
        token=TOKEN,
        language="en",
        context={"page_url": PAGE, "page_title": "Kite X5"},
    )
    assert await store.customers.find(CHANNEL, sender) is None  # only looking: nothing stored
    await ws.send_json(dwell())
    assert await round_trip(ws) == []  # no answer: the "need help?" comes from the scheduler
    [event] = await events_of(client)
    assert (event.source, event.type) == ("widget", "page_dwell")
    assert event.data == {"page_url": PAGE, "seconds": 300}
    customer = await store.customers.find(CHANNEL, sender)
    assert customer is not None and customer.language == "en"
    context = await store.web_context.latest(customer.id)
    assert context is not None and context.page_title == "Kite X5"
    # The customer has a web conversation this socket watches: a proactive message reaches it.
    conv = await store.conversations.latest(customer.id, CHANNEL)
    assert conv is not None and conv.status == "bot"
    assert isinstance(store.bus, LocalMessageBus) and store.bus.listeners(conv.id) >= 1
    assert await store.messages.of(conv.id) == []

    # The same view again, on this socket or after a reconnect: still one event.
    await ws.send_json(dwell(seconds=301))
    assert await round_trip(ws) == []
    await ws.close()
    again, _ = await connect(client, token=TOKEN, language="en")
    await again.send_json(dwell(seconds=302))
    assert await round_trip(again) == []
    assert len(await events_of(client)) == 1
    # Another page view (a reload) is another event.
    await again.send_json(dwell(view_id="view-2", seconds=310))
    assert await round_trip(again) == []
    assert sorted(e.data["seconds"] for e in await events_of(client)) == [300, 310]

    # The scheduler's message in the watched conversation is delivered to the open widget.
    sent = await store.messages.append(
        conv.id, "bot", "Need help?", payload={"proactive": {"rule": "page_dwell"}}
    )
    frames = await collect(
        again, lambda fs: any(f["type"] == "message" and f["id"] == sent.id for f in fs)
    )
    delivered = [f for f in frames if f["type"] == "message"]
    assert delivered[-1]["text"] == "Need help?" and delivered[-1]["sender"] == "bot"


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        (dwell(page_url=None), "page_url"),
        (dwell(page_url=42), "page_url"),
        (dwell(page_url="https://shop.example.com/cart"), "page_url"),
        (dwell(page_url="javascript:alert(1)//products/"), "page_url"),
        (dwell(page_url="https://shop.example.com/products/" + "x" * 500), "page_url"),
        (dwell(page_url="https://shop.example.com/?next=/products/x"), "page_url"),
        (dwell(seconds=0), "seconds"),
        (dwell(seconds="300"), "seconds"),
        (dwell(seconds=True), "seconds"),
        (dwell(seconds=86_401), "seconds"),
        (dwell(seconds=12.5), "seconds"),
        (dwell(view_id="no spaces allowed"), "view_id"),
        (dwell(view_id="x" * 49), "view_id"),
        (dwell(view_id=7), "view_id"),
    ],
)
async def test_a_bad_dwell_frame_is_refused_naming_the_field(
    client: Client, frame: dict[str, Any], field: str
) -> None:
    ws, _ = await connect(client, token=TOKEN)
    await ws.send_json(frame)
    [error] = await round_trip(ws)
    assert error["type"] == "error" and f"'{field}'" in error["message"]
    assert await events_of(client) == []
    assert await store_of(client).customers.find(CHANNEL, sender_for(TOKEN)) is None
    assert await quiet(ws, 0.1) == []


async def test_a_customer_who_wrote_keeps_their_conversation(client: Client) -> None:
    from tests.connectors.web.test_widget_socket import turn

    store = store_of(client)
    ws, _ = await connect(client, token=TOKEN)
    await turn(ws, "你好")
    customer = await store.customers.find(CHANNEL, sender_for(TOKEN))
    assert customer is not None
    before = await store.conversations.latest(customer.id, CHANNEL)
    await ws.send_json(dwell(view_id=None))
    assert await round_trip(ws) == []
    after = await store.conversations.latest(customer.id, CHANNEL)
    assert before is not None and after is not None and after.id == before.id
    [event] = await events_of(client)
    assert event.event_id.startswith(f"dwell:{customer.id}:")
    # Without a view id the socket still reports a page once.
    await ws.send_json(dwell(view_id=None))
    assert await round_trip(ws) == []
    assert len(await events_of(client)) == 1
