"""Which order source answers: the orders a shop imported (`relaydesk orders import`) before the
sample file, and the shop's API alone when `integrations.orders.source` is http."""

from __future__ import annotations

from pathlib import Path

from bot import clock
from bot.config import config_from_dict
from bot.dialogue.orders import ImportedFirstLookup, SqliteOrderLookup
from bot.dialogue.orders_http import HttpOrderLookup
from bot.dialogue.shop_systems import build_order_lookup, close_shop_systems
from bot.store.shop_orders import ShopOrderRecord
from bot.store.sql_store import SqlStore


async def test_imported_orders_answer_first_then_the_sample_file(tmp_path: Path) -> None:
    store = await SqlStore.open("sqlite:///db.sqlite", base_dir=tmp_path)
    try:
        await store.shop_orders.put_many(
            [
                ShopOrderRecord(
                    order_id="202612050777",
                    customer_id=None,
                    customer_ref="C-1",
                    items="Kite Buds 2",
                    status="shipped",
                    amount_cents=39900,
                    currency="CNY",
                    ordered_at=clock.now(),
                    courier="YTO Express",
                    tracking="YT123",
                    eta="2026-12-08",
                )
            ]
        )
        config = config_from_dict(
            {"pipeline": [{"name": "LanguageDetector"}], "dialogue": {"orders_db": "orders.db"}},
            base_dir=str(tmp_path),
        )
        lookup = build_order_lookup(config, store.shop_orders)
        assert isinstance(lookup, ImportedFirstLookup)
        imported = await lookup.find("#202612050777")
        assert imported is not None and (imported.items, imported.tracking) == (
            "Kite Buds 2",
            "YT123",
        )
        sample = await lookup.find("202611180042")  # only in the sample file
        assert sample is not None and sample.tracking == "SF1402336851"
        assert await lookup.find("209999999999") is None
        assert isinstance(build_order_lookup(config), SqliteOrderLookup)
    finally:
        await store.close()


async def test_the_http_source_is_the_shops_api_alone(tmp_path: Path) -> None:
    config = config_from_dict(
        {
            "pipeline": [{"name": "LanguageDetector"}],
            "integrations": {
                "orders": {"source": "http", "url": "https://shop.example.com/o/{order_id}"}
            },
        },
        base_dir=str(tmp_path),
    )
    lookup = build_order_lookup(config, None)
    assert isinstance(lookup, HttpOrderLookup)
    await close_shop_systems(lookup, None)
