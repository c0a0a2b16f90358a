"""Order look-up through the shop's order API: a real aiohttp server, started by each test,
plays the shop (its own JSON shape, an API key, a slow or broken day), and the bot still gives
the customer a clear answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.config import config_from_dict
from bot.config.integrations import OrderSource
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.orders import OrderLookupUnavailable
from bot.dialogue.orders_http import HttpOrderLookup, map_order, read_path
from bot.errors import ConfigError

KEY = "Bearer shop-key-7d1e"
# The shop's API shape: nothing like relaydesk's field names.
SHOP_ORDERS: dict[str, Any] = {
    "202612010001": {
        "data": {
            "order_no": "202612010001",
            "state": "WAIT_BUYER_CONFIRM",
            "lines": [{"title": "Kite X6", "qty": 2}, {"title": "Kite Case"}],
            "shipping": {"carrier": "SF Express", "waybill": "SF9900112233", "eta": "2026-12-09"},
        }
    },
    "202612010002": {
        "data": {"order_no": "202612010002", "state": "TRADE_CLOSED", "lines": []},
    },
}
FIELDS = {
    "order_id": "data.order_no",
    "status": "data.state",
    "items": "data.lines",
    "courier": "data.shipping.carrier",
    "tracking": "data.shipping.waybill",
    "eta": "data.shipping.eta",
}
STATUS_MAP = {"WAIT_BUYER_CONFIRM": "shipped", "TRADE_CLOSED": "cancelled"}


@dataclass
class Shop:
    """The shop's order API and what it saw."""

    url: str = ""
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    mode: str = "ok"  # ok | slow | error | html | huge | nostatus


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    state = Shop()

    async def order(request: web.Request) -> web.StreamResponse:
        number = request.match_info["number"]
        state.requests.append((number, request.headers.get("Authorization")))
        if request.headers.get("Authorization") != KEY:
            return web.json_response({"error": "unauthorized"}, status=401)
        if state.mode == "slow":
            await asyncio.sleep(2)
        if state.mode == "error":
            return web.json_response({"error": "database down"}, status=503)
        if state.mode == "html":
            return web.Response(text="<html>maintenance</html>", content_type="text/html")
        if state.mode == "huge":
            return web.Response(body=b"[" + b"1," * 200_000 + b"1]")
        if state.mode == "nostatus":
            return web.json_response({"data": {"order_no": number}})
        found = SHOP_ORDERS.get(number)
        if found is None:
            return web.json_response({"error": "no such order"}, status=404)
        return web.json_response(found)

    app = web.Application()
    app.router.add_get("/api/v2/orders/{number}", order)
    server = TestServer(app)
    await server.start_server()
    state.url = str(server.make_url("/api/v2/orders/")) + "{order_id}"
    yield state
    await server.close()


def settings(shop: Shop, **changes: Any) -> OrderSource:
    raw: dict[str, Any] = {
        "source": "http",
        "url": shop.url,
        "headers": {"Authorization": KEY},
        "fields": FIELDS,
        "status_map": STATUS_MAP,
        "timeout_seconds": 0.5,
        "cache_seconds": 60,
        **changes,
    }
    return OrderSource.model_validate(raw)


@pytest.fixture
async def lookup(shop: Shop) -> AsyncIterator[Callable[..., HttpOrderLookup]]:
    made: list[HttpOrderLookup] = []

    def make(**changes: Any) -> HttpOrderLookup:
        made.append(HttpOrderLookup(settings(shop, **changes)))
        return made[-1]

    yield make
    for one in made:
        await one.close()


async def test_the_shops_json_is_mapped_onto_an_order_with_its_api_key(
    shop: Shop, lookup: Callable[..., HttpOrderLookup]
) -> None:
    order = await lookup().find("#202612010001")
    assert order is not None
    assert order.order_id == "202612010001"
    assert order.status == "shipped"  # WAIT_BUYER_CONFIRM through the status map
    assert order.items == "Kite X6 x2, Kite Case"
    assert order.courier == "SF Express"
    assert (order.tracking, order.eta) == ("SF9900112233", "2026-12-09")
    assert shop.requests == [("202612010001", KEY)]


async def test_a_404_is_no_such_order_and_answers_are_cached(
    shop: Shop, lookup: Callable[..., HttpOrderLookup]
) -> None:
    orders = lookup()
    assert await orders.find("202699999999") is None
    assert await orders.find("202699999999") is None
    for _ in range(3):
        assert await orders.find("202612010002") is not None
    # one request per number: the repeats came from the cache
    assert [n for n, _ in shop.requests] == ["202699999999", "202612010002"]
    assert orders.calls == 2


async def test_concurrent_look_ups_of_one_number_share_one_request(
    shop: Shop, lookup: Callable[..., HttpOrderLookup]
) -> None:
    orders = lookup()
    found = await asyncio.gather(*(orders.find("202612010001") for _ in range(5)))
    assert all(o is not None and o.status == "shipped" for o in found)
    assert len(shop.requests) == 1


async def test_no_cache_when_cache_seconds_is_zero(
    shop: Shop, lookup: Callable[..., HttpOrderLookup]
) -> None:
    orders = lookup(cache_seconds=0)
    await orders.find("202612010001")
    await orders.find("202612010001")
    assert len(shop.requests) == 2


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("slow", "did not answer within 0.5 s"),
        ("error", "HTTP 503"),
        ("html", "not JSON"),
        ("huge", "too large"),
        ("nostatus", "no order status"),
    ],
)
async def test_a_broken_order_api_is_unavailable_never_not_found(
    shop: Shop, lookup: Callable[..., HttpOrderLookup], mode: str, why: str
) -> None:
    shop.mode = mode
    orders = lookup(max_response_bytes=64 * 1024)
    with pytest.raises(OrderLookupUnavailable, match=why):
        await orders.find("202612010001")
    shop.mode = "ok"  # errors are not cached: the next question asks again
    assert await orders.find("202612010001") is not None


async def test_a_wrong_key_and_a_refused_connection_are_unavailable(
    shop: Shop, lookup: Callable[..., HttpOrderLookup]
) -> None:
    with pytest.raises(OrderLookupUnavailable, match="HTTP 401"):
        await lookup(headers={"Authorization": "Bearer wrong"}).find("202612010001")
    closed = "http://127.0.0.1:9/api/{order_id}"  # the discard port: nothing listens
    with pytest.raises(OrderLookupUnavailable, match="could not be reached"):
        await lookup(url=closed).find("202612010001")


def test_an_unknown_status_names_the_status_map_key() -> None:
    source = OrderSource.model_validate({"source": "http", "url": "http://x/{order_id}"})
    with pytest.raises(OrderLookupUnavailable, match="status_map"):
        map_order({"status": "ON_HOLD"}, source, "1")
    assert read_path({"a": [{"b": 1}]}, "a.0.b") == 1
    assert read_path({"a": [{"b": 1}]}, "a.3.b") is None


@pytest.mark.parametrize(
    ("orders", "says"),
    [
        ({"source": "http"}, "url: required when source is http"),
        ({"source": "http", "url": "ftp://shop/{order_id}"}, "http:// or https://"),
        ({"source": "http", "url": "https://shop/api/orders"}, "{order_id}"),
        ({"fields": {"price": "data.price"}}, "unknown order field 'price'"),
        ({"status_map": {"X": "lost"}}, "integrations.orders.status_map.X"),
        ({"headers": {"Bad Header": "x"}}, "not a valid HTTP header name"),
        ({"timeout_seconds": 0}, "integrations.orders.timeout_seconds"),
        ({"cache": 5}, "integrations.orders.cache"),
    ],
)
def test_bad_order_settings_fail_at_start_naming_the_key(orders: dict[str, Any], says: str) -> None:
    raw = {"pipeline": [{"name": "LanguageDetector"}], "integrations": {"orders": orders}}
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw)
    assert "integrations.orders" in str(err.value) and says in str(err.value)


async def test_the_customer_hears_the_shops_answer_or_a_clear_try_again(
    shop: Shop, lookup: Callable[..., HttpOrderLookup], engine: DialogueEngine
) -> None:
    engine.orders = lookup()
    r = await engine.handle("rest", "c1", "where is my order 202612010001")
    assert "SF9900112233" in r.replies[-1].text and "Kite X6 x2" in r.replies[-1].text
    r = await engine.handle("rest", "c2", "订单 202612010002 到哪了")
    assert "已取消" in r.replies[-1].text

    shop.mode = "slow"
    engine.orders = lookup()  # a fresh cache: the shop is asked again, and times out
    r = await engine.handle("rest", "c3", "where is my order 202612010001")
    assert "order system isn't answering" in r.replies[-1].text
    assert r.failed_turns == 0 and r.status == "bot"
    r = await engine.handle("rest", "c4", "我的订单 202612010001 到哪了")
    assert "订单系统暂时没有响应" in r.replies[-1].text


def test_the_config_loads_an_http_order_source_from_yaml(tmp_path: Path) -> None:
    from bot.config import load_config

    path = tmp_path / "config.yml"
    path.write_text(
        json.dumps(
            {
                "pipeline": [{"name": "LanguageDetector"}],
                "integrations": {
                    "orders": {
                        "source": "http",
                        "url": "https://shop.example.com/api/orders/{order_id}",
                        "headers": {"Authorization": "Bearer ${SHOP_KEY_FOR_TEST:-k}"},
                    }
                },
            }
        )
    )
    config = load_config(path)
    assert config.integrations.orders.source == "http"
    assert "Bearer k" in config.secrets()
