"""Order look-up behind a small interface; the sample shop's orders live in SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import yaml


@dataclass(frozen=True)
class Order:
    order_id: str
    items: str
    status: str  # paid | shipped | delivered | cancelled
    courier: str | None
    tracking: str | None
    eta: str | None


class OrderLookup(Protocol):
    async def find(self, order_id: str) -> Order | None:
        """The order with this number, or None."""


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
