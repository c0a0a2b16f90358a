"""Knowledge-base benchmark: retrieval quality on held-out paraphrases, and search latency, build
time and memory at 1k, 100k and 1M synthetic chunks.

    .venv/bin/python bench/kb.py [--sizes 1000,100000,1000000] [--skip-quality]

Quality: bench/data/kb_questions.yml, written separately from the articles (never copied into
them): recall@1, recall@5 and MRR per language; the same with the NLU's intent passed in, as
the dialogue does; and cross-language, with a base of only one language's articles asked in
the other language. Latency: the real Retriever (faiss + BM25 + fusion + calibration) over a
synthetic index with clustered vectors and Zipf-distributed words; "embedding excluded" times
the search alone, "included" adds a real USE embedding of a real question.
Ends with one JSON line of every figure.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO, emit_json, percentile, quiet_logging

from bot.config import Config, config_from_dict, load_config
from bot.knowledge.article import Article
from bot.knowledge.base import KnowledgeBase
from bot.knowledge.chunks import Chunk
from bot.knowledge.evaluate import EvalQuestion, evaluate, load_questions
from bot.knowledge.index import MAIN, IndexSettings, KnowledgeIndex, make_view
from bot.knowledge.retriever import RetrievalSettings, Retriever

QUESTIONS = REPO / "bench/data/kb_questions.yml"


def temp_config(tmp: Path, knowledge_root: Path) -> Config:
    base = load_config(REPO / "config.yml")
    raw = base.model_dump(exclude={"base_dir"})
    raw["pipeline"] = base.pipeline_spec()
    raw["knowledge"].update(
        path=str(knowledge_root),
        index_path=str(tmp / "index"),
        history_db=str(tmp / "history.db"),
        calibration_negatives=str(REPO / "nlu_data"),
    )
    raw["nlu"]["data"] = str(REPO / "nlu_data")
    raw["nlu"]["models"] = str(REPO / "models")
    return config_from_dict(raw, base_dir=str(REPO))


def quality(figures: dict[str, Any]) -> None:
    questions = load_questions(QUESTIONS)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        kb = KnowledgeBase(temp_config(tmp, REPO / "knowledge"))
        started = time.perf_counter()
        report = kb.reindex(full=True)
        figures["sample_index_build_s"] = round(time.perf_counter() - started, 2)
        print(
            f"sample base: {report.articles} articles, {report.chunks} chunks, built and "
            f"calibrated in {figures['sample_index_build_s']} s"
        )
        plain = evaluate(kb, questions)
        show("retrieval alone", plain, figures, "")
        try:
            from bot.nlu.pipeline import load_for_config

            nlu = load_for_config(kb.config)
            with_nlu = evaluate(kb, questions, intent_of=lambda q: nlu.parse(q).intent.name)
            show("with the NLU intent (as the dialogue searches)", with_nlu, figures, "nlu_")
        except Exception as exc:  # a bench reports what it could not measure
            print(f"(no trained NLU model, intent-boosted figures skipped: {exc})")
        a = plain["answering"]
        figures["answered_rate"] = a["answered_rate"]
        figures["answered_precision"] = a["answered_precision"]
        figures["unanswerable_declined_rate"] = a["declined_rate"]
        print(
            f"decision {plain['decision']['method']}, threshold "
            f"{plain['decision']['threshold']:.4f}: answered {a['answered_rate']} of answerable "
            f"questions with precision {a['answered_precision']}; declined "
            f"{a['declined_rate']} of {a['unanswerable']} unanswerable"
        )
    cross_language(questions, figures)


def show(title: str, report: dict[str, Any], figures: dict[str, Any], prefix: str) -> None:
    print(f"\n{title}")
    for key in ("overall", "zh", "en", "cross_language"):
        r = report.get(key)
        if not r or not r["n"]:
            continue
        print(
            f"  {key:>14}: recall@1 {r['recall_at_1']:.4f}  recall@5 {r['recall_at_5']:.4f}  "
            f"MRR {r['mrr']:.4f}  (n={r['n']})"
        )
        for metric in ("recall_at_1", "recall_at_5", "mrr"):
            figures[f"{prefix}{key}_{metric}"] = r[metric]


def cross_language(questions: list[EvalQuestion], figures: dict[str, Any]) -> None:
    """A base holding only one language's articles, asked in the other language."""
    print("\ncross-language (base of one language only, questions in the other)")
    for base_lang, ask_lang in (("zh", "en"), ("en", "zh")):
        with tempfile.TemporaryDirectory() as t:
            tmp = Path(t)
            shutil.copytree(REPO / "knowledge" / base_lang, tmp / "kb" / base_lang)
            kb = KnowledgeBase(temp_config(tmp, tmp / "kb"))
            kb.reindex(full=True)
            family = {a.translation_of or a.id: a.id for a in kb.index.articles.values()}
            mapped = []
            for q in questions:
                if q.article is None or (q.language or "") != ask_lang:
                    continue
                root = q.article[: -len(".en")] if q.article.endswith(".en") else q.article
                if root in family:
                    mapped.append(EvalQuestion(q.question, family[root], q.language))
            report = evaluate(kb, mapped)
            r = report["overall"]
            key = f"cross_{ask_lang}_to_{base_lang}"
            print(
                f"  {ask_lang} questions, {base_lang} articles: recall@1 {r['recall_at_1']:.4f}"
                f"  recall@5 {r['recall_at_5']:.4f}  MRR {r['mrr']:.4f}  (n={r['n']})"
            )
            for metric in ("recall_at_1", "recall_at_5", "mrr"):
                figures[f"{key}_{metric}"] = r[metric]


def synthetic_index(
    n: int, dim: int, seed: int
) -> tuple[KnowledgeIndex, np.ndarray, list[list[str]]]:
    """Clustered unit vectors (topics) and Zipf words, five chunks an article."""
    rng = np.random.default_rng(seed)
    n_topics = max(16, n // 50)
    centres = rng.standard_normal((n_topics, dim)).astype(np.float32)
    topic = rng.integers(0, n_topics, n)
    vectors = centres[topic] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vocab = np.array([f"w{i}" for i in range(50_000)])
    words = rng.zipf(1.3, size=(n, 12)) % len(vocab)
    terms = [list(vocab[row]) for row in words]
    n_articles = max(1, n // 5)
    today = date(2026, 11, 1)
    articles = {
        f"service/synthetic/a{i}": Article(
            id=f"service/synthetic/a{i}",
            title=f"a{i}",
            category="service/synthetic",
            language="zh" if i % 2 else "en",
            body="synthetic",
            updated=today,
        )
        for i in range(n_articles)
    }
    # Five chunks an article, each article's chunks together (as indexing lays them out).
    chunks = [
        Chunk(f"service/synthetic/a{i // 5 % n_articles}", "question", f"c{i}") for i in range(n)
    ]
    settings = IndexSettings()
    view = make_view(MAIN, "use", np.arange(n, dtype=np.int64), vectors, settings)
    index = KnowledgeIndex(articles, chunks, {MAIN: view}, settings, terms)
    queries = vectors[rng.integers(0, n, 300)] + 0.3 * rng.standard_normal((300, dim)).astype(
        np.float32
    )
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    query_terms = [list(vocab[rng.zipf(1.3, size=5) % len(vocab)]) for _ in range(300)]
    return index, queries, query_terms


def latency(sizes: list[int], figures: dict[str, Any], nprobes: list[int]) -> None:
    from bot.nlu.embedders import UseEmbedder

    embedder = UseEmbedder()
    real = [q.question for q in load_questions(QUESTIONS)][:300]
    embedder.embed(real[:5])
    embed_ms = []
    for text in real:
        s = time.perf_counter()
        embedder.embed([text])
        embed_ms.append((time.perf_counter() - s) * 1000)
    print(
        f"\nUSE query embedding: p50 {percentile(embed_ms, 50):.2f} ms, "
        f"p99 {percentile(embed_ms, 99):.2f} ms"
    )
    for n in sizes:
        gc.collect()
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        index, queries, query_terms = synthetic_index(n, embedder.dim, seed=n)
        build_s = time.perf_counter() - started
        # The synthetic queries' words, handed out one query at a time.
        terms_iter = itertools.cycle(query_terms)

        def next_terms(_q: str, it: Any = terms_iter) -> list[str]:
            return list(next(it))

        retriever = Retriever(
            index, {MAIN: embedder}, next_terms, lambda _q: "en", RetrievalSettings()
        )
        dense = index.main.dense
        label = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
        truth = []
        if dense.kind != "flat":
            exact = queries[:100] @ index.main.vectors.T
            truth = [set(np.argsort(-row)[:10].tolist()) for row in exact]
        for extra in nprobes if dense.kind == "ivf" else []:
            # Other nprobe settings: the speed/recall trade-off, measured the same way.
            dense._index.nprobe = extra
            ms, recall = measure(retriever, queries, index, truth)
            figures[f"search_p99_ms_{label}_nprobe{extra}"] = round(percentile(ms, 99), 3)
            figures[f"ann_recall_at_10_{label}_nprobe{extra}"] = round(recall or 0.0, 4)
            print(
                f"{label:>5} chunks, nprobe {extra}: search p50 {percentile(ms, 50):.2f} ms, "
                f"p99 {percentile(ms, 99):.2f} ms; ANN recall@10 vs exact {recall:.3f}"
            )
        if dense.kind == "ivf":
            dense._index.nprobe = dense.nprobe
        search_ms, recall = measure(retriever, queries, index, truth)
        p50, p99 = percentile(search_ms, 50), percentile(search_ms, 99)
        incl = [s + e for s, e in zip(search_ms, embed_ms, strict=False)]
        figures[f"search_p50_ms_{label}"] = round(p50, 3)
        figures[f"search_p99_ms_{label}"] = round(p99, 3)
        figures[f"search_incl_embed_p50_ms_{label}"] = round(percentile(incl, 50), 3)
        figures[f"search_incl_embed_p99_ms_{label}"] = round(percentile(incl, 99), 3)
        figures[f"index_build_s_{label}"] = round(build_s, 2)
        figures[f"vectors_mb_{label}"] = round(index.main.vectors.nbytes / 2**20, 1)
        figures[f"peak_rss_mb_after_{label}"] = round(peak_rss_mb(), 1)
        if recall is not None:
            figures[f"ann_recall_at_10_{label}"] = round(recall, 4)
        print(
            f"{label:>5} chunks ({dense.kind}): search p50 {p50:.2f} ms, p99 {p99:.2f} ms "
            f"(embedding excluded); with embedding p99 {percentile(incl, 99):.2f} ms; build "
            f"{build_s:.1f} s; vectors {index.main.vectors.nbytes / 2**20:.0f} MB; peak RSS "
            f"{peak_rss_mb():.0f} MB (was {rss_before:.0f})"
            + (f"; ANN recall@10 vs exact {recall:.3f}" if recall is not None else "")
        )
        del index, retriever
        gc.collect()


def measure(
    retriever: Retriever, queries: np.ndarray, index: KnowledgeIndex, truth: list[set[int]]
) -> tuple[list[float], float | None]:
    for q in queries[:20]:
        retriever.search("q", vector=q)
    ms = []
    for q in queries:
        s = time.perf_counter()
        retriever.search("q", vector=q)
        ms.append((time.perf_counter() - s) * 1000)
    if not truth:
        return ms, None
    hits = sum(
        len(t & set(index.main.dense.search(q, 10)[0].tolist()))
        for q, t in zip(queries[:100], truth, strict=True)
    )
    return ms, hits / 1000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,100000,1000000")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--nprobe", default="", help="extra IVF nprobe values to measure, e.g. 128,256")
    args = ap.parse_args()
    quiet_logging()
    figures: dict[str, Any] = {}
    if not args.skip_quality:
        quality(figures)
    latency(
        [int(s) for s in args.sizes.split(",") if s],
        figures,
        [int(x) for x in args.nprobe.split(",") if x],
    )
    print()
    emit_json(figures)


if __name__ == "__main__":
    sys.exit(main())
