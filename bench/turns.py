"""Bot turns over the REST channel, on SQLite and PostgreSQL: latency p50/p99 and turns per
second at 1, 50 and 200 concurrent conversations, and messages lost, duplicated or out of order
(which must all be zero). Customers pause between messages (--think-ms, default 2 s: reading the
reply and typing); --think-ms 0 sends back to back and measures saturation instead.

    .venv/bin/python bench/turns.py [--backends sqlite,postgresql] [--levels 1,50,200] [--turns 10]

A real `relaydesk run` process serves; each simulated customer sends its lines one after the
other (waiting for the reply), as a person would; all customers run concurrently. Afterwards the
database is read back and every customer's stored messages are compared with what was sent.
Ends with one JSON line of every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from _common import (
    REPO,
    emit_json,
    percentile,
    quiet_logging,
    start_server,
    wait_healthy,
    write_server_config,
)

from bot.store.sql_store import SqlStore
from tests.kit.processes import admin_execute

PG_ADMIN = os.environ.get("RELAYDESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def lines_pool() -> list[str]:
    """Answerable questions and small talk: turns the bot handles itself."""
    qs = yaml.safe_load((REPO / "bench/data/kb_questions.yml").read_text("utf-8"))["questions"]
    pool = [q["question"] for q in qs if q["article"]]
    return [*pool, "你好", "hi", "谢谢", "thanks!", "满多少包邮", "how long do refunds take"]


async def pg_admin(sql: str) -> None:
    """One statement (CREATE or DROP DATABASE) on the bench's PostgreSQL (RELAYDESK_BENCH_PG)."""
    await admin_execute(PG_ADMIN, sql)


async def run_level(
    url: str, concurrency: int, turns: int, pool: list[str], think_ms: float
) -> dict[str, Any]:
    import aiohttp

    rng = random.Random(concurrency)  # same plans and pauses on every run
    plans = {
        f"bench-{uuid.uuid4().hex[:10]}": [rng.choice(pool) for _ in range(turns)]
        for _ in range(concurrency)
    }
    latencies: list[float] = []
    errors = 0

    async def customer(session: aiohttp.ClientSession, sender: str, lines: list[str]) -> None:
        nonlocal errors
        # Customers start spread over one think time, not all in the same millisecond.
        await asyncio.sleep(rng.uniform(0, think_ms / 1000))
        for i, text in enumerate(lines):
            if i:  # reading the reply and typing the next line
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think_ms / 1000)
            started = time.perf_counter()
            async with session.post(
                f"{url}/webhooks/rest/webhook",
                json={"sender": sender, "message": text, "message_id": f"{sender}-{i}"},
            ) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(customer(session, s, lines) for s, lines in plans.items()))
        elapsed = time.perf_counter() - started
    return {"plans": plans, "latencies": latencies, "elapsed": elapsed, "errors": errors}


async def verify(storage_url: str, plans: dict[str, list[str]]) -> tuple[int, int, int]:
    """Lost, duplicated and out-of-order customer messages, read back from the database."""
    store = await SqlStore.open(storage_url)
    lost = duplicated = disordered = 0
    try:
        for sender, sent in plans.items():
            customer = await store.customers.for_identity("rest", sender)
            stored = [
                m for m in await store.messages.of_customer(customer.id) if m.sender == "customer"
            ]
            texts = [m.text for m in stored]
            ids = [m.external_id for m in stored]
            duplicated += len(ids) - len(set(ids))
            lost += max(0, len(sent) - len(set(ids)))
            expected_ids = [f"{sender}-{i}" for i in range(len(sent))]
            if [i for i in ids if i in expected_ids] != expected_ids[: len(ids)] or texts != sent[
                : len(texts)
            ]:
                disordered += 1
    finally:
        await store.close()
    return lost, duplicated, disordered


async def bench_backend(
    backend: str, levels: list[int], turns: int, think_ms: float, figures: dict[str, Any]
) -> None:
    pool = lines_pool()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        if backend == "sqlite":
            storage_url = f"sqlite:///{tmp / 'relaydesk.db'}"
        else:
            name = f"relaydesk_bench_{uuid.uuid4().hex[:8]}"
            await pg_admin(f'CREATE DATABASE "{name}"')
            storage_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        server, url = start_server(["--config", str(write_server_config(tmp, storage_url))])
        try:
            import aiohttp

            await wait_healthy(server, url, timeout_s=120)
            async with aiohttp.ClientSession() as s:
                # Warm-up: a few turns so lazy imports and caches are paid.
                for text in pool[:10]:
                    async with s.post(
                        f"{url}/webhooks/rest/webhook", json={"sender": "warm", "message": text}
                    ) as r:
                        await r.read()
            print(f"\n{backend}: server up at {url}")
            for level in levels:
                out = await run_level(url, level, turns, pool, think_ms)
                lost, dup, disorder = await verify(storage_url, out["plans"])
                lat = out["latencies"]
                rate = len(lat) / out["elapsed"]
                key = f"{backend}_c{level}"
                figures[f"{key}_turn_p50_ms"] = round(percentile(lat, 50), 2)
                figures[f"{key}_turn_p99_ms"] = round(percentile(lat, 99), 2)
                figures[f"{key}_turns_per_s"] = round(rate, 1)
                figures[f"{key}_lost"] = lost
                figures[f"{key}_duplicated"] = dup
                figures[f"{key}_out_of_order"] = disorder
                figures[f"{key}_http_errors"] = out["errors"]
                print(
                    f"  {level:>3} concurrent conversations x {turns} turns: p50 "
                    f"{percentile(lat, 50):.1f} ms, p99 {percentile(lat, 99):.1f} ms, "
                    f"{rate:.1f} turns/s; lost {lost}, duplicated {dup}, out of order "
                    f"{disorder}, HTTP errors {out['errors']}"
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
            if backend != "sqlite":
                await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--levels", default="1,50,200")
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument(
        "--think-ms",
        type=float,
        default=2000.0,
        help="mean pause between a customer's messages (0: back to back)",
    )
    args = ap.parse_args()
    quiet_logging()
    figures: dict[str, Any] = {}
    levels = [int(x) for x in args.levels.split(",")]
    for backend in args.backends.split(","):
        asyncio.run(bench_backend(backend, levels, args.turns, args.think_ms, figures))
    print()
    emit_json(figures)


if __name__ == "__main__":
    main()
