"""Searching past conversations (bot/store/conversation_search.py): how fast the indexer takes
messages in, and how long a search takes, over generated chats in Chinese, English and both.

    .venv/bin/python bench/conversation_search.py [--backend sqlite|postgresql]
                                                  [--messages 100000] [--searches 300]

Messages are written straight into a fresh database (10 per conversation, spread over 180 days,
from customers, the bot and agents, with order numbers and product names), then indexed from
scratch in one catch-up (`index_pending`: jieba in a worker thread, terms written in batches).
Searches then run one at a time, as an agent would: common and rare words, Chinese, English,
mixed, order numbers; each includes the catch-up check a search makes first. Ends with one JSON
line of every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import SEED, emit_json, percentile, print_table, quiet_logging
from turns import PG_ADMIN, pg_admin

ZH = [
    "我的蓝牙耳机连不上了",
    "订单什么时候发货",
    "我要退款",
    "屏幕碎了怎么保修",
    "快递三天还没到",
    "发票怎么开",
    "优惠券用不了",
    "充电盒指示灯一直闪",
    "能不能换货",
    "会员积分怎么查",
    "电池续航太短",
    "地址填错了想改一下",
    "客服你好",
    "谢谢你的帮助",
    "包装破损了",
    "手表表带断了",
    "降噪效果不好",
    "退货运费谁出",
    "支付失败但是扣款了",
    "麻烦帮我查一下物流",
]
EN = [
    "my earbuds won't pair",
    "where is my parcel",
    "I want a refund",
    "the screen is cracked",
    "how do I get an invoice",
    "coupon code not working",
    "battery drains fast",
    "can I exchange the size",
    "tracking number please",
    "the charger stopped working",
    "wrong address on the order",
    "thanks for your help",
    "payment failed twice",
    "noise cancelling is weak",
    "warranty claim for the watch",
    "the box arrived damaged",
]
PRODUCTS = ["Kite X5 Pro", "AirBeat 3", "Nova Watch S", "PowerCube 20000", "SoundBar Mini"]
REPLIES_ZH = ["请提供订单号", "已为您登记退款", "我帮您转接人工客服", "请重启设备后再试"]
REPLIES_EN = ["Please share your order number", "Your refund is on its way", "Let me check that"]
QUERIES = [
    "蓝牙",
    "退款",
    "发票",
    "物流",
    "充电盒",
    "保修",
    "支付失败",
    "降噪",
    "refund",
    "invoice",
    "warranty",
    "parcel",
    "charger",
    "coupon",
    "cracked screen",
    "Kite X5",
    "蓝牙 AirBeat",
    "退款 refund",
    "Nova Watch 表带",
    "会员积分",
]


def message_text(rng: random.Random, sender: str) -> str:
    if sender == "bot":
        return rng.choice(REPLIES_ZH + REPLIES_EN)
    parts = [rng.choice(ZH) if rng.random() < 0.55 else rng.choice(EN)]
    if rng.random() < 0.4:
        parts.append(rng.choice(PRODUCTS))
    if rng.random() < 0.25:
        parts.append(f"订单号{rng.randrange(2023_0000_0000, 2026_9999_9999)}")
    if rng.random() < 0.3:
        parts.append(rng.choice(ZH + EN))
    return "，".join(parts) if rng.random() < 0.5 else " ".join(parts)


async def fill(store: Any, messages: int) -> None:
    """`messages` messages in conversations of 10, written in bulk (not what is measured)."""
    from sqlalchemy import insert

    from bot.store import models as m

    rng = random.Random(SEED)
    now = datetime.now(UTC)
    per_conv = 10
    batch_convs = 200
    left = messages // per_conv
    while left > 0:
        n, left = min(batch_convs, left), left - batch_convs
        customers, convs, msgs = [], [], []
        for _ in range(n):
            cust, cid = uuid.uuid4().hex, uuid.uuid4().hex
            began = now - timedelta(days=rng.uniform(0, 180))
            customers.append(
                {
                    "id": cust,
                    "name": f"客户{rng.randrange(10_000)}",
                    "tags": [],
                    "attributes": {},
                    "created_at": began,
                }
            )
            convs.append(
                {
                    "id": cid,
                    "customer_id": cust,
                    "channel": rng.choice(["web", "telegram", "wechat"]),
                    "status": "closed",
                    "state": {},
                    "last_seq": per_conv,
                    "created_at": began,
                    "updated_at": began,
                    "closed_at": began + timedelta(minutes=30),
                }
            )
            for seq in range(1, per_conv + 1):
                sender = ("customer", "bot", "agent")[seq % 3]
                msgs.append(
                    {
                        "conversation_id": cid,
                        "seq": seq,
                        "sender": sender,
                        "text": message_text(rng, sender),
                        "payload": {},
                        "created_at": began + timedelta(minutes=seq),
                    }
                )

        def work(
            s: Any, c: list[Any] = customers, v: list[Any] = convs, g: list[Any] = msgs
        ) -> None:
            s.execute(insert(m.Customer), c)
            s.execute(insert(m.Conversation), v)
            s.execute(insert(m.Message), g)
            s.commit()

        await store.db.run(work)


async def measure(backend: str, messages: int, searches: int) -> dict[str, Any]:
    from bot.store.search_terms import index_terms
    from bot.store.sql_store import SqlStore

    with tempfile.TemporaryDirectory() as t:
        name = None
        if backend == "sqlite":
            store = await SqlStore.open("sqlite:///bench.db", base_dir=Path(t))
        else:
            name = f"relaydesk_bench_{uuid.uuid4().hex[:8]}"
            await pg_admin(f'CREATE DATABASE "{name}"')
            store = await SqlStore.open(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
        try:
            await fill(store, messages)
            search = store.conversation_search
            index_terms("预热 warm up")  # jieba's dictionary, loaded once per process
            started = time.perf_counter()
            indexed = await search.index_pending()
            index_s = time.perf_counter() - started
            rng = random.Random(SEED + 1)
            await search.search("warm up")
            times, hits = [], []
            for i in range(searches):
                q = QUERIES[i % len(QUERIES)] if i < len(QUERIES) else rng.choice(QUERIES)
                t0 = time.perf_counter()
                page = await search.search(q, limit=20)
                times.append((time.perf_counter() - t0) * 1000)
                hits.append(len(page.results))
            # The second page of a common word: the cursor's cost.
            first = await search.search("退款", limit=20)
            t0 = time.perf_counter()
            await search.search("退款", limit=20, before=first.next)
            page2_ms = (time.perf_counter() - t0) * 1000
        finally:
            await store.close()
            if name is not None:
                await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "backend": backend,
        "messages": messages,
        "indexed_messages": indexed,
        "index_s": round(index_s, 2),
        "index_messages_per_s": round(indexed / index_s, 1),
        "searches": searches,
        "search_p50_ms": round(percentile(times, 50), 2),
        "search_p99_ms": round(percentile(times, 99), 2),
        "search_max_ms": round(max(times), 2),
        "second_page_ms": round(page2_ms, 2),
        "mean_results_per_search": round(sum(hits) / len(hits), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=300)
    args = parser.parse_args()
    quiet_logging()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results = [asyncio.run(measure(b, args.messages, args.searches)) for b in backends]
    keys = [k for k in results[0] if k != "backend"]
    print_table(
        ["figure", *[r["backend"] for r in results]], [[k, *[r[k] for r in results]] for k in keys]
    )
    figures: dict[str, Any] = {}
    for r in results:
        for k in keys:
            figures[f"{r['backend']}_{k}"] = r[k]
    emit_json(figures)


if __name__ == "__main__":
    main()
