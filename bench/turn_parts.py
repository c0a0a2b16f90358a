"""Where a bot turn's time goes, in process (no HTTP): storing the message (`turns.begin`),
understanding it (parse plus knowledge search, on the parse thread) and storing the outcome
(`turns.finish`), as mean milliseconds per turn over the same customer lines as bench/turns.py.

    .venv/bin/python bench/turn_parts.py [--backend sqlite|postgresql] [--turns 400]
                                         [--blas-threads 1,2]

Each BLAS setting runs in a fresh process of its own, since OpenBLAS fixes its thread count
for the process. Ends with one JSON line of every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from _common import emit_json, percentile, quiet_logging, write_server_config
from turns import PG_ADMIN, lines_pool, pg_admin


async def measure(backend: str, turns: int) -> dict[str, float]:
    import bot.dialogue.engine as engine_module
    import bot.store.turns as store_module
    from bot.config import load_config
    from bot.nlu.pipeline import load_for_config
    from bot.server.context import open_context

    spent: dict[str, float] = defaultdict(float)

    def timed(cls: Any, name: str, label: str) -> None:
        original = getattr(cls, name)

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started

        setattr(cls, name, wrapper)

    timed(store_module.SqlTurns, "begin", "store_message")
    timed(store_module.SqlTurns, "finish", "store_outcome")
    timed(engine_module.DialogueEngine, "_run", "understand")

    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        name = f"relaydesk_bench_{uuid.uuid4().hex[:8]}"
        if backend == "sqlite":
            url = f"sqlite:///{tmp / 'relaydesk.db'}"
        else:
            await pg_admin(f'CREATE DATABASE "{name}"')
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        config = load_config(write_server_config(tmp, url))
        runtime = await open_context(config, load_for_config(config))
        engine = runtime.engine
        assert engine is not None and runtime.store is not None
        try:
            rng = random.Random(7)
            pool = lines_pool()
            for i in range(30):  # warm-up: lazy imports, caches, the first customers
                await engine.handle("rest", f"warm-{i % 10}", rng.choice(pool))
            spent.clear()
            latencies = []
            for i in range(turns):
                started = time.perf_counter()
                await engine.handle("rest", f"c{i % 50}", rng.choice(pool), external_id=str(i))
                latencies.append((time.perf_counter() - started) * 1000)
        finally:
            await runtime.store.close()
            if backend != "sqlite":
                await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = {f"{k}_ms": round(v / turns * 1000, 2) for k, v in spent.items()}
    out["turn_p50_ms"] = round(percentile(latencies, 50), 2)
    out["turn_mean_ms"] = round(sum(latencies) / turns, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    ap.add_argument("--turns", type=int, default=400)
    ap.add_argument("--blas-threads", default="1,2")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    quiet_logging()
    if args.child:  # one setting, in this process; print the figures for the parent
        print(json.dumps(asyncio.run(measure(args.backend, args.turns))))
        return
    figures: dict[str, Any] = {}
    for threads in args.blas_threads.split(","):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads}
        cmd = [sys.executable, __file__, "--child", "--backend", args.backend]
        done = subprocess.run(
            [*cmd, "--turns", str(args.turns)], env=env, capture_output=True, text=True, check=True
        )
        parts = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{args.backend}, {threads} BLAS thread(s): turn p50 {parts['turn_p50_ms']} ms, mean "
            f"{parts['turn_mean_ms']} ms = store message {parts['store_message_ms']} + "
            f"understand {parts['understand_ms']} + store outcome {parts['store_outcome_ms']} "
            "(+ deciding and rendering)"
        )
        figures.update({f"{args.backend}_blas{threads}_{k}": v for k, v in parts.items()})
    print()
    emit_json(figures)


if __name__ == "__main__":
    main()
