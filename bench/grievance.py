"""Validate the grievance classifier (bot/nlu/grievance.py) before any conversation is replayed.

- 5-fold cross-validation (stratified by label and source) of its training lines: the grievance
  file's grievances and hard non-grievances, plus the neutral and positive lines of
  sentiment_train.yml. Precision, recall and the false-alarm rate on the non-grievances, per
  threshold and per regularisation C;
- the share of neutral public requests it scores at or above each threshold: CLINC150 in-scope
  val (en) and SMP2019 dev task domains (zh), 1000 fixed-seed rows at most (bench/sentiment.py's
  sets; nothing of them is trained on).

The policy's thresholds (PolicySettings.grievance, grievance_insisting) and grievance.C are
chosen here, never on bench/data/conversations.yml.

Run: .venv/bin/python bench/grievance.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, SEED, emit_json, pipeline_spec, print_table, quiet_logging, rnd
from sentiment import _clinc_in_scope, _neutral_sample, _smp_task_requests

THRESHOLDS = (0.5, 0.6, 0.7, 0.8)
CS = (1.0, 4.0)
FOLDS = 5
# The steps whose output the classifier reads: language, tokens, the sentence embedding.
FEATURE_STEPS = ("LanguageDetector", "SpacyTokenizer", "SentenceEmbeddingFeaturizer")


def main() -> None:
    quiet_logging()
    from sklearn.model_selection import StratifiedKFold

    from bot.nlu import rasa_format
    from bot.nlu.grievance import GrievanceModel, load_grievances
    from bot.nlu.pipeline import NLUPipeline
    from bot.nlu.sentiment import load_labelled

    spec = [s for s in pipeline_spec() if s["name"] in FEATURE_STEPS]
    pipeline = NLUPipeline.train(spec, rasa_format.load(REPO / "nlu_data"), REPO)

    def prepare(texts: list[str]) -> list[Any]:
        return pipeline._messages(texts)

    pairs = load_grievances()
    calm = [d.text for d in load_labelled(None) if d.label != "negative"]
    texts = [t for t, _ in pairs] + calm
    y = np.array([int(g) for _, g in pairs] + [0] * len(calm))
    source = np.array([0 if g else 1 for _, g in pairs] + [2] * len(calm))
    messages = prepare(texts)
    neutral = {}
    for name, reader, split in (
        ("clinc_val", _clinc_in_scope, "val"),
        ("smp_dev", _smp_task_requests, "dev"),
    ):
        rows, reason = reader(split)
        if reason:
            print(f"{name}: skipped: {reason}")
            continue
        neutral[name] = prepare(_neutral_sample(rows))

    figures: dict[str, Any] = {"lines": len(texts), "grievances": int(y.sum())}
    table = []
    for c in CS:
        prob = np.zeros(len(y))
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED % 2**32)
        for train, test in folds.split(texts, y * 3 + source):
            model = GrievanceModel().fit([messages[i] for i in train], list(y[train] == 1), c)
            prob[test] = [model.score(messages[i]) for i in test]
        full = GrievanceModel().fit(messages, list(y == 1), c)
        scores = {k: np.array([full.score(m) for m in ms]) for k, ms in neutral.items()}
        for th in THRESHOLDS:
            hit = prob >= th
            p = float((hit & (y == 1)).sum() / max(hit.sum(), 1))
            r = float((hit & (y == 1)).sum() / (y == 1).sum())
            row = {
                "cv_precision": rnd(p),
                "cv_recall": rnd(r),
                "cv_false_alarm_hard": rnd(float(hit[source == 1].mean())),
                "cv_false_alarm_calm": rnd(float(hit[source == 2].mean())),
                **{f"{k}_false_alarm": rnd(float((v >= th).mean())) for k, v in scores.items()},
            }
            figures[f"C{c:g}_t{th:g}"] = row
            table.append([c, th, *row.values()])
    print_table(
        ["C", "threshold", "cv P", "cv R", "FA hard", "FA calm", *[f"FA {k}" for k in neutral]],
        table,
    )
    emit_json(figures)


if __name__ == "__main__":
    main()
