"""Order look-up behind a small interface: the sample shop's orders live in SQLite; a shop's own
order API is called over HTTP (bot/dialogue/orders_http.py), chosen by `integrations.orders`."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml


@dataclass(frozen=True)
class Order:
    order_id: str
    items: str
    status: str  # paid | shipped | delivered | cancelled
    courier: str | None
    tracking: str | None
    eta: str | None


class OrderLookupUnavailable(Exception):
    """The order system did not answer usefully (time-out, refused, an error status, a reply
    that is not an order): the customer is told to try again, not that the order is unknown."""


class OrderLookup(Protocol):
    async def find(self, order_id: str) -> Order | None:
        """The order with this number, or None; raises OrderLookupUnavailable when the
        order system cannot say."""


class SqliteOrderLookup:
    """Orders in a SQLite file, seeded with the sample shop's orders when it is created."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, items TEXT, "
                "status TEXT, courier TEXT, tracking TEXT, eta TEXT)"
            )
            if db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 0:
                sample = resources.files("bot.dialogue").joinpath("sample_orders.yml")
                rows = yaml.safe_load(sample.read_text("utf-8"))["orders"]
                db.executemany(
                    "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            str(r["order_id"]),
                            r["items"],
                            r["status"],
                            r.get("courier"),
                            r.get("tracking"),
                            r.get("eta"),
                        )
                        for r in rows
                    ],
                )

    def _find(self, order_id: str) -> Order | None:
        with sqlite3.connect(self.path) as db:
            row = db.execute(
                "SELECT order_id, items, status, courier, tracking, eta FROM orders "
                "WHERE order_id = ?",
                (order_id.lstrip("#"),),
            ).fetchone()
        return Order(*row) if row else None

    async def find(self, order_id: str) -> Order | None:
        return await asyncio.to_thread(self._find, order_id)


class ImportedOrders(Protocol):
    """The orders `relaydesk orders import` loaded (bot/store/shop_orders.py)."""

    async def find(self, order_id: str) -> Any: ...


class ImportedFirstLookup:
    """The shop's imported orders first, then the sample file: an imported order is the
    shop's own record, the sample file only a demo."""

    def __init__(self, imported: ImportedOrders, fallback: OrderLookup) -> None:
        self.imported = imported
        self.fallback = fallback

    async def find(self, order_id: str) -> Order | None:
        row = await self.imported.find(order_id.strip().lstrip("#"))
        if row is None:
            return await self.fallback.find(order_id)
        return Order(row.order_id, row.items, row.status, row.courier, row.tracking, row.eta)
