"""Where a proactive message goes when instances share PostgreSQL and Redis (the machine's,
tests.bot.test_coordination.REDIS): a widget open on one instance makes the scheduler's
ChannelReach on the other route to it live, and once the socket closes it no longer does
(issue 21: presence across instances)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from bot import clock
from bot.coordination import RedisOnlineClients
from bot.proactive.delivery import Route
from bot.server.context import CONTEXT
from bot.server.proactive_reach import ChannelReach
from connectors.web.identity import CHANNEL, sender_for
from tests.apps import store_of
from tests.bot.test_scale_out import pair  # noqa: F401 (the two instances)
from tests.connectors.web.test_widget_socket import connect, round_trip

TOKEN = "reach-token-0123456789abcdef0123"
PAGE = "https://shop.example.com/products/kite-x5"


def reach_of(client: TestClient[Any, Any]) -> ChannelReach:
    """The ChannelReach the instance's scheduler would use (as bot/server/context.py builds it)."""
    context = client.app[CONTEXT]
    return ChannelReach(context.store, context.channels, context.online)


async def routed(reach: ChannelReach, customer_id: str, want: Route | None) -> Route | None:
    """The route, asked again until it is `want` or 5 s pass (a socket's close is handled by
    the server after the client's close returns)."""
    async with asyncio.timeout(5):
        while (got := await reach.route(customer_id, clock.now())) != want:
            await asyncio.sleep(0.05)
    return got


async def test_a_widget_open_on_one_instance_is_reached_live_from_the_other(
    pair: tuple[TestClient[Any, Any], TestClient[Any, Any]],  # noqa: F811
) -> None:
    a, b = pair
    assert isinstance(b.app[CONTEXT].online, RedisOnlineClients)
    reach = reach_of(b)
    # A visitor reads a product page through instance A: the dwell makes them a customer with a
    # web conversation that this socket watches.
    ws, _ = await connect(a, token=TOKEN, context={"page_url": PAGE})
    await ws.send_json({"type": "dwell", "page_url": PAGE, "seconds": 300, "view_id": "v1"})
    assert await round_trip(ws) == []
    store = store_of(b)
    customer = await store.customers.find(CHANNEL, sender_for(TOKEN))
    assert customer is not None
    conv = await store.conversations.latest(customer.id, CHANNEL)
    assert conv is not None
    live = Route("web", "live", conv.id)
    assert await reach.route(customer.id, clock.now()) == live
    assert await reach.route(customer.id, clock.now(), channels=("telegram",)) is None

    await ws.close()  # the visitor left: web-only, nothing else reaches them
    assert await routed(reach, customer.id, None) is None

    again, _ = await connect(a, token=TOKEN)  # back on the site: the hello watches it again
    assert await reach.route(customer.id, clock.now()) == live
    await again.close()
    assert await routed(reach, customer.id, None) is None
