"""NLU benchmark: accuracy on held-out and fresh utterances, calibration, fallback defaults,
sentiment, latency in-process and over HTTP, throughput, load time, cold start, peak RSS and
training time.

    .venv/bin/python bench/nlu.py [--quick]

The held-out split is a stratified 20% of nlu_data/ that the model measured on never saw. The
fresh sets (bench/data/nlu_fresh*_*.yml) were written separately from the training data; only
their utterances that do not occur verbatim in the training data are counted ("unseen").
Ends with one JSON line of every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    REPO,
    SEED,
    accuracy,
    emit_json,
    macro_f1,
    percentile,
    quiet_logging,
    start_server,
    stratified_split,
    text_key,
    wait_healthy,
)

from bot.config import load_config
from bot.nlu import rasa_format
from bot.nlu.classifier import FallbackClassifier
from bot.nlu.evaluate import evaluate
from bot.nlu.pipeline import NLUPipeline
from bot.nlu.sentiment import load_labelled
from bot.pipeline_config.params import FallbackClassifierParams

FRESH = {
    "fresh_en": REPO / "bench/data/nlu_fresh_en.yml",
    "fresh_zh": REPO / "bench/data/nlu_fresh_zh.yml",
    "fresh2_en": REPO / "bench/data/nlu_fresh2_en.yml",
    "fresh2_zh": REPO / "bench/data/nlu_fresh2_zh.yml",
}


def text_language(text: str) -> str:
    """Language of the labelled text by script (zh if it has any Han character)."""
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def accuracy_f1(gold: list[str], pred: list[str]) -> tuple[float, float]:
    return accuracy(gold, pred) or 0.0, macro_f1(gold, pred) or 0.0


def expected_calibration_error(conf: list[float], correct: list[bool], bins: int = 10) -> float:
    c, k = np.array(conf), np.array(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (c > lo) & (c <= hi)
        if mask.any():
            ece += mask.mean() * abs(c[mask].mean() - k[mask].mean())
    return float(ece)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer latency samples")
    args = ap.parse_args()
    quiet_logging()
    n_latency = 300 if args.quick else 1000
    figures: dict[str, Any] = {}
    config = load_config(REPO / "config.yml")
    spec = config.pipeline_spec()
    data = rasa_format.load(REPO / config.nlu.data)
    print(f"training data: {len(data.examples)} examples, {len(data.intents)} intents")

    # -- 1. held-out split: accuracy, macro-F1, calibration, fallback sweep ------------------
    train_ex, test_ex = stratified_split(data.examples, [e.intent for e in data.examples], 0.2)
    train, test = data.with_examples(train_ex), data.with_examples(test_ex)
    no_fallback = [c for c in spec if c["name"] != "FallbackClassifier"]
    started = time.perf_counter()
    raw_model = NLUPipeline.train(no_fallback, train, base_dir=REPO)
    print(
        f"trained the split model on {len(train.examples)} examples "
        f"in {time.perf_counter() - started:.1f} s"
    )
    fb_params = next(c for c in spec if c["name"] == "FallbackClassifier")
    shipped_fb = FallbackClassifier(
        FallbackClassifierParams(**{k: v for k, v in fb_params.items() if k != "name"})
    )

    def predict(results: list[Any], fb: FallbackClassifier) -> list[str]:
        return [
            fb.params.fallback_intent if fb.decide(list(r.intent_ranking)) else r.intent.name
            for r in results
        ]

    split_results = raw_model.parse_batch([ex.text for ex in test.examples])
    gold = [ex.intent for ex in test.examples]
    langs = [text_language(ex.text) for ex in test.examples]
    pred = predict(split_results, shipped_fb)
    print("\nheld-out 20% split (never trained on)")
    for lang in ("zh", "en"):
        idx = [i for i, x in enumerate(langs) if x == lang]
        acc, f1 = accuracy_f1([gold[i] for i in idx], [pred[i] for i in idx])
        figures[f"heldout_accuracy_{lang}"] = round(acc, 4)
        figures[f"heldout_macro_f1_{lang}"] = round(f1, 4)
        print(f"  {lang}: accuracy {acc:.4f}  macro-F1 {f1:.4f}  ({len(idx)} utterances)")
    conf = [r.intent.confidence for r in split_results]
    correct = [r.intent.name == g for r, g in zip(split_results, gold, strict=True)]
    figures["heldout_ece"] = round(expected_calibration_error(conf, correct), 4)
    print(f"  expected calibration error (10 bins): {figures['heldout_ece']:.4f}")

    print("\nfallback sweep on the held-out split (fallback counts as out_of_scope)")
    best: tuple[float, float, float] = (-1.0, 0.0, 0.0)
    grid: dict[str, float] = {}
    for threshold in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        row = []
        for gap in (0.0, 0.05, 0.1, 0.15, 0.2):
            fb = FallbackClassifier(
                FallbackClassifierParams(threshold=threshold, ambiguity_threshold=gap)
            )
            acc, _ = accuracy_f1(gold, predict(split_results, fb))
            grid[f"{threshold}/{gap}"] = round(acc, 4)
            row.append(f"{acc:.4f}")
            if acc > best[0] + 1e-9:
                best = (acc, threshold, gap)
        print(
            f"  threshold {threshold:.2f}: "
            + "  ".join(
                f"gap {g:.2f}={a}" for g, a in zip((0.0, 0.05, 0.1, 0.15, 0.2), row, strict=True)
            )
        )
    figures["fallback_best_threshold"] = best[1]
    figures["fallback_best_ambiguity"] = best[2]
    figures["fallback_best_accuracy"] = round(best[0], 4)
    # A fallback guards against what no data set holds; take the most cautious setting (highest
    # threshold, then widest gap) that is as accurate as the best one.
    cautious = max(
        (key for key, acc in grid.items() if acc >= round(best[0], 4)),
        key=lambda k: tuple(float(x) for x in k.split("/")),
    )
    figures["fallback_recommended"] = cautious
    print(
        f"  recommended (most cautious of the most accurate): threshold/gap {cautious} -> "
        f"{grid[cautious]}"
    )
    print(
        f"  best: threshold {best[1]} gap {best[2]} -> {best[0]:.4f}; shipped: threshold "
        f"{shipped_fb.params.threshold} gap {shipped_fb.params.ambiguity_threshold} -> "
        f"{grid.get(f'{shipped_fb.params.threshold}/{shipped_fb.params.ambiguity_threshold}')}"
    )

    # -- 2. the shipped model (all data) on the fresh sets, and training time ---------------
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "bot", "train", "--force", "--out", tmp],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        figures["train_s"] = round(time.perf_counter() - started, 2)
        model_dir = next(Path(tmp).glob("nlu-*"))
        print(
            f"\nfull training (CLI, incl. start-up): {figures['train_s']} s "
            f"({proc.stdout.strip().splitlines()[-1]})"
        )

        started = time.perf_counter()
        model = NLUPipeline.load(model_dir)
        model.parse("warm up 预热")
        figures["model_load_s"] = round(time.perf_counter() - started, 3)
        print(f"model load + warm-up in a warm process: {figures['model_load_s']} s")

        seen = {text_key(ex.text) for ex in data.examples}
        print("\nfresh utterances (written separately; unseen = not verbatim in training data)")
        for name, path in FRESH.items():
            fresh = rasa_format.load(path)
            unseen = fresh.with_examples(
                [ex for ex in fresh.examples if text_key(ex.text) not in seen]
            )
            ev_all, ev_unseen = evaluate(model, fresh), evaluate(model, unseen)
            _, f1 = accuracy_f1(ev_unseen.gold, ev_unseen.predicted)
            figures[f"{name}_accuracy"] = round(ev_all.accuracy, 4)
            figures[f"{name}_unseen_accuracy"] = round(ev_unseen.accuracy, 4)
            figures[f"{name}_unseen_macro_f1"] = round(f1, 4)
            print(
                f"  {name}: all {ev_all.accuracy:.4f} ({len(fresh.examples)}); unseen "
                f"{ev_unseen.accuracy:.4f} macro-F1 {f1:.4f} ({len(unseen.examples)})"
            )

        # -- 3. sentiment on the labelled customer-service set ------------------------------
        labelled = load_labelled(REPO / "bench/data/sentiment_eval.yml")
        print("\nsentiment on bench/data/sentiment_eval.yml")
        for lang in ("zh", "en"):
            sub = [d for d in labelled if d.language == lang]
            res = [model.parse(d.text).sentiment for d in sub]
            acc, f1 = accuracy_f1([d.label for d in sub], [r.label for r in res])
            emo = sum(r.emotion == d.emotion for r, d in zip(res, sub, strict=True)) / len(sub)
            figures[f"sentiment_accuracy_{lang}"] = round(acc, 4)
            figures[f"sentiment_macro_f1_{lang}"] = round(f1, 4)
            figures[f"emotion_accuracy_{lang}"] = round(emo, 4)
            print(f"  {lang}: label accuracy {acc:.4f} macro-F1 {f1:.4f}; emotion {emo:.4f}")

        # -- 4. in-process latency and throughput --------------------------------------------
        pool = [ex.text for ex in test.examples]
        rng = random.Random(SEED)
        texts = [rng.choice(pool) for _ in range(n_latency)]
        for t in texts[:50]:
            model.parse(t)
        lat = []
        for t in texts:
            s = time.perf_counter()
            model.parse(t)
            lat.append((time.perf_counter() - s) * 1000)
        figures["parse_p50_ms"] = round(percentile(lat, 50), 3)
        figures["parse_p99_ms"] = round(percentile(lat, 99), 3)
        figures["parse_msgs_per_s"] = round(1000 / (sum(lat) / len(lat)), 1)
        print(
            f"\nin-process parse: p50 {figures['parse_p50_ms']} ms, p99 "
            f"{figures['parse_p99_ms']} ms, {figures['parse_msgs_per_s']} msgs/s on one thread"
        )

        # -- 5. over HTTP: cold start, latency, throughput, peak RSS -------------------------
        http = asyncio.run(http_bench(model_dir, texts))
        figures.update(http)

    print()
    emit_json(figures)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def http_bench(model_dir: Path, texts: list[str]) -> dict[str, Any]:
    import aiohttp

    out: dict[str, Any] = {}
    started = time.perf_counter()
    server, url = start_server(["--model", str(model_dir)])
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(server, url)
            out["cold_start_s"] = round(time.perf_counter() - started, 3)
            print(
                f"\nHTTP: cold start (process start to /health answering) {out['cold_start_s']} s"
            )

            async def one(t: str) -> float:
                s = time.perf_counter()
                async with session.post(f"{url}/model/parse", json={"text": t}) as r:
                    await r.read()
                    assert r.status == 200, r.status
                return (time.perf_counter() - s) * 1000

            for t in texts[:50]:
                await one(t)
            lat = [await one(t) for t in texts]
            out["http_parse_p50_ms"] = round(percentile(lat, 50), 3)
            out["http_parse_p99_ms"] = round(percentile(lat, 99), 3)
            print(
                f"HTTP parse, one client: p50 {out['http_parse_p50_ms']} ms, "
                f"p99 {out['http_parse_p99_ms']} ms"
            )

            async def worker(queue: list[str]) -> int:
                done = 0
                while queue:
                    await one(queue.pop())
                    done += 1
                return done

            for concurrency in (1, 4, 16):
                queue = list(texts)
                s = time.perf_counter()
                counts = await asyncio.gather(*(worker(queue) for _ in range(concurrency)))
                rate = sum(counts) / (time.perf_counter() - s)
                out[f"http_msgs_per_s_c{concurrency}"] = round(rate, 1)
                print(
                    f"HTTP throughput with {concurrency:>2} concurrent clients: {rate:.1f} msgs/s"
                )
            out["server_peak_rss_mb"] = peak_rss_mb(server.pid)
            print(f"server peak RSS: {out['server_peak_rss_mb']} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return out


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
