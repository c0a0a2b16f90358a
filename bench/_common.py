"""Helpers the bench scripts share: the configured pipeline, a fixed split, metrics, output.

Bench scripts print figures for people and end with one JSON line of the same figures.
"""

from __future__ import annotations

import json
import logging
import math
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "bench" / "data"
SEED = 20240611

if str(REPO) not in sys.path:  # run as `python bench/X.py` from anywhere
    sys.path.insert(0, str(REPO))


def quiet_logging() -> None:
    """Warnings from the pipeline to stderr; no progress chatter from jieba or the HF libraries."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    for name in ("jieba", "sentence_transformers", "transformers", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


def pipeline_spec(
    *,
    backend: str | None = None,
    model_path: str | None = None,
    no_embedder: bool = False,
    calibrate: bool | None = False,
) -> list[dict[str, Any]]:
    """config.yml's pipeline as plain data, with only the asked-for changes made.

    calibrate=False skips the out-of-fold temperature fit of the intent classifier (5 extra
    fits); it changes confidences, not the arg-max, except through the fallback thresholds.
    """
    from bot.config import load_config

    spec = load_config(REPO / "config.yml").pipeline_spec()
    out = []
    for step in spec:
        step = dict(step)
        if step["name"] == "SentenceEmbeddingFeaturizer":
            if no_embedder:
                continue
            if backend is not None:
                step["backend"] = backend
                step["model_path"] = model_path
        if step["name"] == "LogisticRegressionClassifier" and calibrate is not None:
            step["calibrate"] = calibrate
        out.append(step)
    return out


def text_key(text: str) -> str:
    return text.strip().casefold()


def stratified_split(
    items: Sequence[Any], labels: Sequence[str], test_share: float, seed: int = SEED
) -> tuple[list[Any], list[Any]]:
    """Split items into (train, test), the same share of every label in test, reproducibly."""
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    rng = random.Random(seed)
    test_idx: set[int] = set()
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        test_idx.update(idx[: round(len(idx) * test_share)])
    train = [x for i, x in enumerate(items) if i not in test_idx]
    test = [x for i, x in enumerate(items) if i in test_idx]
    return train, test


def percentile(samples: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(samples, dtype=float), q))


def accuracy(gold: Sequence[Any], pred: Sequence[Any]) -> float | None:
    if not gold:
        return None
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def macro_f1(
    gold: Sequence[Any], pred: Sequence[Any], labels: Sequence[Any] | None = None
) -> float | None:
    """Macro-F1 over `labels`, by default every label that is gold or predicted (sklearn's way)."""
    if not gold:
        return None
    from sklearn.metrics import f1_score

    g = ["<none>" if x is None else x for x in gold]
    p = ["<none>" if x is None else x for x in pred]
    return float(f1_score(g, p, labels=labels, average="macro", zero_division=0))


def precision_recall(
    gold: Sequence[Any], pred: Sequence[Any], positive: Any
) -> tuple[float | None, float | None]:
    """Precision and recall of one class (None when undefined: nothing predicted / no gold)."""
    tp = sum(g == positive and p == positive for g, p in zip(gold, pred, strict=True))
    n_pred = sum(p == positive for p in pred)
    n_gold = sum(g == positive for g in gold)
    return (tp / n_pred if n_pred else None, tp / n_gold if n_gold else None)


def ci95(p: float | None, n: int) -> float | None:
    """Half-width of a normal-approximation 95% interval for a proportion (a sense of noise)."""
    if p is None or n == 0:
        return None
    return 1.96 * math.sqrt(p * (1 - p) / n)


def rnd(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 3) -> None:
    """Print rows under headers: first column left-aligned, the others right-aligned."""
    cells = [[fmt(c, digits) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))


def emit_json(figures: dict[str, Any]) -> None:
    """The last line of a bench script: one JSON object of its figures."""
    sys.stdout.flush()
    print(json.dumps(figures, ensure_ascii=False, sort_keys=False), flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: list[str]) -> tuple[Any, str]:
    """`python -m bot run ARGS --port P` as a child process; returns it and its base URL."""
    import subprocess

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", *args, "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


async def wait_healthy(proc: Any, url: str, timeout_s: float = 60.0) -> None:
    """Poll /health until the server answers; fail fast if the process died."""
    import asyncio
    import time

    import aiohttp

    deadline = time.perf_counter() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{url}/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("server exited before it was ready")
            if time.perf_counter() > deadline:
                raise RuntimeError("server did not start in time")
            await asyncio.sleep(0.02)


def write_server_config(tmp: Path, storage_url: str, *, always_open: bool = False) -> Path:
    """config.yml for a bench server: the repository's model, knowledge and responses, with
    everything the server writes under `tmp`. `always_open`: every skill group open all day,
    so a run does not depend on the hour."""
    import yaml

    raw = yaml.safe_load((REPO / "config.yml").read_text("utf-8"))
    raw["nlu"].update(data=str(REPO / "nlu_data"), models=str(REPO / "models"))
    raw["knowledge"].update(
        path=str(REPO / "knowledge"),
        index_path=str(REPO / "var/kb-index"),
        history_db=str(tmp / "knowledge.db"),
        calibration_negatives=str(REPO / "nlu_data"),
    )
    raw["dialogue"] = {
        **raw.get("dialogue", {}),
        "responses": str(REPO / "responses.yml"),
        "orders_db": str(tmp / "orders.db"),
    }
    raw["storage"] = {"url": storage_url}
    raw.setdefault("console", {})["canned_responses"] = str(REPO / "canned.yml")
    # The load generator is one address sending for many customers: no rate limits.
    raw.setdefault("server", {})["rate_limits"] = {"ip_per_minute": 0, "customer_per_minute": 0}
    if always_open:
        from bot.config import HandoffSection

        raw.setdefault("handoff", {})["skill_groups"] = {
            name: {**g.model_dump(), "hours": "00:00-24:00"}
            for name, g in HandoffSection().skill_groups.items()
        }
    path = tmp / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path
