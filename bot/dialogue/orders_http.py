"""Order look-up through the shop's own order API (`integrations.orders.source: http`).

One GET per order number to the configured URL, with the configured headers (the API's key),
bounded by a time-out and a response size. The shop's JSON is read through a field mapping, so
an API that answers `{"data": {"order_no": ..., "state": "SHIPPED"}}` needs no code, only
config. Answers are cached for a while: a customer who asks twice, or a bot that looks the same
order up on consecutive turns, costs the shop's API one call.

Nothing here raises at the customer: a time-out, a refused connection, an error status or an
answer that is not an order becomes `OrderLookupUnavailable`, which the reply turns into "the
order system is not answering, try again shortly" (bot/dialogue/lookups.py). Only the statuses
listed in `not_found_status` (404) mean "no such order".
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.config.integrations import ORDER_FIELDS, ORDER_STATUSES, OrderSource, plain_headers
from bot.dialogue.orders import Order, OrderLookupUnavailable
from bot.dialogue.shop_http import ShopHttpClient

log = logging.getLogger(__name__)

_MISSING = object()


def read_path(document: Any, path: str) -> Any:
    """The value at a dotted path (`data.items.0.name`) in parsed JSON; None when absent."""
    here = document
    for key in path.split("."):
        if isinstance(here, dict):
            here = here.get(key, _MISSING)
        elif isinstance(here, list) and key.lstrip("-").isdigit():
            i = int(key)
            here = here[i] if -len(here) <= i < len(here) else _MISSING
        else:
            return None
        if here is _MISSING:
            return None
    return here


def _text(value: Any) -> str | None:
    """A field as the reply quotes it: lists of items become "A, B"; objects their name."""
    if value is None or value == "":
        return None
    if isinstance(value, list):
        parts = [t for t in (_text(v) for v in value) if t]
        return ", ".join(parts) or None
    if isinstance(value, dict):
        for key in ("name", "title", "sku"):
            if isinstance(value.get(key), str | int | float):
                qty = value.get("quantity") or value.get("qty")
                name = str(value[key])
                return f"{name} x{qty}" if isinstance(qty, int) and qty > 1 else name
        return None
    if isinstance(value, bool):
        return None
    return str(value)


def map_order(document: Any, settings: OrderSource, asked: str) -> Order:
    """The shop's answer as an Order, through the field mapping and the status map; raises
    OrderLookupUnavailable when it lacks a status the bot can tell."""
    values: dict[str, str | None] = {}
    for name in ORDER_FIELDS:
        values[name] = _text(read_path(document, settings.fields.get(name, name)))
    raw_status = values["status"]
    if raw_status is None:
        raise OrderLookupUnavailable("the answer has no order status")
    status = settings.status_map.get(raw_status, raw_status.lower())
    if status not in ORDER_STATUSES:
        raise OrderLookupUnavailable(
            f"unknown order status {raw_status!r}: map it in integrations.orders.status_map"
        )
    return Order(
        order_id=values["order_id"] or asked,
        items=values["items"] or "",
        status=status,
        courier=values["courier"],
        tracking=values["tracking"],
        eta=values["eta"],
    )


class _Cache:
    """A small LRU of answers with their expiry (monotonic seconds)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, tuple[float, Order | None]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, Order | None]:
        hit = self._items.get(key)
        if hit is None or hit[0] < time.monotonic():
            self._items.pop(key, None)
            return False, None
        self._items.move_to_end(key)
        return True, hit[1]

    def put(self, key: str, value: Order | None, ttl: float) -> None:
        if self.size <= 0 or ttl <= 0:
            return
        self._items[key] = (time.monotonic() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class HttpOrderLookup(ShopHttpClient):
    """Orders from the shop's order API. One client session for the process; `close()` ends it."""

    def __init__(self, settings: OrderSource) -> None:
        if settings.url is None:
            raise ValueError("integrations.orders.url is required for the http source")
        self.settings = settings
        super().__init__(
            settings.url,
            {"Accept": "application/json", **plain_headers(settings.headers)},
            settings.timeout_seconds,
        )
        self._cache = _Cache(settings.cache_size)
        # Concurrent look-ups of one number share one request.
        self._inflight: dict[str, asyncio.Task[Order | None]] = {}
        self.calls = 0  # requests made (the cache's effect shows in tests and metrics)

    async def find(self, order_id: str) -> Order | None:
        number = order_id.strip().lstrip("#")
        if not number or len(number) > 64:
            return None
        hit, cached = self._cache.get(number)
        if hit:
            return cached
        task = self._inflight.get(number)
        if task is None:  # one request per number at a time, whoever else is waiting for it
            task = asyncio.create_task(self._fetch_and_cache(number))
            self._inflight[number] = task
            task.add_done_callback(lambda t: self._done(number, t))
        # shielded: a caller that gives up (its turn cancelled) does not cancel the others'
        return await asyncio.shield(task)

    def _done(self, number: str, task: asyncio.Task[Order | None]) -> None:
        self._inflight.pop(number, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so an error nobody awaited is not warned about

    async def _fetch_and_cache(self, number: str) -> Order | None:
        found = await self._fetch(number)
        ttl = self.settings.cache_seconds if found else self.settings.cache_seconds / 2
        self._cache.put(number, found, ttl)
        return found

    async def _fetch(self, number: str) -> Order | None:
        url = self.url.replace("{order_id}", quote(number, safe=""))
        self.calls += 1
        started = time.perf_counter()
        try:
            async with self._http().get(url, headers=self.headers, allow_redirects=False) as r:
                if r.status in self.settings.not_found_status:
                    return None
                if r.status != 200:
                    raise OrderLookupUnavailable(f"the order API answered HTTP {r.status}")
                body = await r.content.read(self.settings.max_response_bytes + 1)
        except TimeoutError as exc:
            raise OrderLookupUnavailable(
                f"the order API did not answer within {self.settings.timeout_seconds:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise OrderLookupUnavailable(f"the order API could not be reached: {exc}") from exc
        finally:
            log.debug("order API %s took %.0f ms", number, (time.perf_counter() - started) * 1e3)
        if len(body) > self.settings.max_response_bytes:
            raise OrderLookupUnavailable("the order API's answer is too large")
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OrderLookupUnavailable("the order API's answer is not JSON") from exc
        return map_order(document, self.settings, number)
