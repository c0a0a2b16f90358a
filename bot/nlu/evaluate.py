"""`relaydesk test nlu`: intent and entity reports shaped like Rasa's (and scikit-learn's)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.nlu.pipeline import NLUPipeline
from bot.nlu.types import ParseResult, TrainingData


@dataclass
class Evaluation:
    gold: list[str]
    predicted: list[str]
    results: list[ParseResult]
    data: TrainingData

    @property
    def accuracy(self) -> float:
        if not self.gold:
            return 0.0
        return sum(g == p for g, p in zip(self.gold, self.predicted, strict=True)) / len(self.gold)

    def intent_report(self) -> dict[str, Any]:
        from sklearn.metrics import classification_report

        labels = sorted(set(self.gold) | set(self.predicted))
        report: dict[str, Any] = classification_report(
            self.gold, self.predicted, labels=labels, output_dict=True, zero_division=0
        )
        # classification_report omits accuracy when labels is given and not all are predicted.
        report["accuracy"] = self.accuracy
        return report

    def errors(self) -> list[dict[str, Any]]:
        return [
            {
                "text": r.text,
                "intent": g,
                "intent_prediction": r.intent.to_dict(),
                "language": r.language,
                "source": ex.source,
            }
            for g, r, ex in zip(self.gold, self.results, self.data.examples, strict=True)
            if g != r.intent.name
        ]

    def entity_report(self) -> dict[str, Any]:
        """Exact-span precision, recall and F1 per entity type.

        Like Rasa, spans are compared, not values: a synonym mapped to its canonical value is
        still the entity the annotator marked.
        """
        tp: Counter[str] = Counter()
        fp: Counter[str] = Counter()
        fn: Counter[str] = Counter()
        for ex, r in zip(self.data.examples, self.results, strict=True):
            gold = {(e.entity, e.start, e.end) for e in ex.entities}
            pred = {(e.entity, e.start, e.end) for e in r.entities}
            for e in pred & gold:
                tp[e[0]] += 1
            for e in pred - gold:
                fp[e[0]] += 1
            for e in gold - pred:
                fn[e[0]] += 1
        out: dict[str, Any] = {}
        for ent in sorted(set(tp) | set(fp) | set(fn)):
            p = tp[ent] / (tp[ent] + fp[ent]) if tp[ent] + fp[ent] else 0.0
            rec = tp[ent] / (tp[ent] + fn[ent]) if tp[ent] + fn[ent] else 0.0
            f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
            out[ent] = {"precision": p, "recall": rec, "f1-score": f1, "support": tp[ent] + fn[ent]}
        return out

    def by_language(self) -> dict[str, dict[str, float]]:
        """Accuracy and macro-F1 per detected language of the text (zh, en, mixed)."""
        from sklearn.metrics import f1_score

        out: dict[str, dict[str, float]] = {}
        for lang in sorted({r.language for r in self.results}):
            idx = [i for i, r in enumerate(self.results) if r.language == lang]
            g = [self.gold[i] for i in idx]
            p = [self.predicted[i] for i in idx]
            out[lang] = {
                "accuracy": sum(a == b for a, b in zip(g, p, strict=True)) / len(idx),
                "macro_f1": float(f1_score(g, p, average="macro", zero_division=0)),
                "support": len(idx),
            }
        return out


def evaluate(pipeline: NLUPipeline, data: TrainingData) -> Evaluation:
    results = pipeline.parse_batch([ex.text for ex in data.examples])
    return Evaluation(
        gold=[ex.intent for ex in data.examples],
        predicted=[r.intent.name for r in results],
        results=results,
        data=data,
    )


def plot_confusion(evaluation: Evaluation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    labels = sorted(set(evaluation.gold) | set(evaluation.predicted))
    cm = confusion_matrix(evaluation.gold, evaluation.predicted, labels=labels)
    size = max(6.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted intent")
    ax.set_ylabel("true intent")
    ax.set_title(f"Intent confusion matrix (accuracy {evaluation.accuracy:.3f})")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black",
                )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_reports(evaluation: Evaluation, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "intent_report": out_dir / "intent_report.json",
        "intent_errors": out_dir / "intent_errors.json",
        "entity_report": out_dir / "entity_report.json",
        "confusion_matrix": out_dir / "intent_confusion_matrix.png",
    }
    report = evaluation.intent_report()
    report["by_language"] = evaluation.by_language()
    paths["intent_report"].write_text(json.dumps(report, indent=2), encoding="utf-8")
    paths["intent_errors"].write_text(
        json.dumps(evaluation.errors(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    paths["entity_report"].write_text(
        json.dumps(evaluation.entity_report(), indent=2), encoding="utf-8"
    )
    plot_confusion(evaluation, paths["confusion_matrix"])
    return paths
