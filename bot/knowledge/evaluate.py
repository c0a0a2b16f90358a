"""`relaydesk kb eval`: recall@1, recall@5 and MRR of the knowledge base on labelled questions,
overall, per language and across languages, plus how well it declines what it cannot answer."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import DataProblem, TrainingDataError
from bot.knowledge.base import KnowledgeBase


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    article: str | None  # None: no article answers it
    language: str | None = None
    also: tuple[str, ...] = ()  # other articles whose text answers it just as well

    @property
    def acceptable(self) -> tuple[str, ...]:
        return ((self.article,) if self.article else ()) + self.also


def load_questions(path: Path) -> list[EvalQuestion]:
    """YAML ({version, questions: [{question, article, language}]}) or CSV with columns
    question, article[, language]."""
    name = str(path)
    if not path.is_file():
        raise TrainingDataError([DataProblem(name, None, "no such file")])
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            fields = set(reader.fieldnames or [])
            if not {"question", "article"} <= fields:
                raise TrainingDataError(
                    [DataProblem(name, 1, "CSV needs the columns question and article")]
                )
            out = []
            for line, row in enumerate(reader, start=2):
                q = (row.get("question") or "").strip()
                if not q:
                    raise TrainingDataError([DataProblem(name, line, "question is empty")])
                art = (row.get("article") or "").strip() or None
                out.append(EvalQuestion(q, art, (row.get("language") or "").strip() or None))
            return out
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = raw.get("questions") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise TrainingDataError([DataProblem(name, None, "expected a mapping with 'questions'")])
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not str(item.get("question") or "").strip():
            raise TrainingDataError([DataProblem(name, None, f"questions[{i}] needs a question")])
        also = item.get("also") or []
        if not isinstance(also, list):
            raise TrainingDataError([DataProblem(name, None, f"questions[{i}].also: a list")])
        out.append(
            EvalQuestion(
                str(item["question"]).strip(),
                item.get("article"),
                item.get("language"),
                tuple(str(a) for a in also),
            )
        )
    return out


def evaluate(
    kb: KnowledgeBase,
    questions: list[EvalQuestion],
    k: int = 5,
    intent_of: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Score retrieval. `intent_of` gives each question the NLU's intent, as the dialogue
    does, so the intent's categories are boosted."""
    rows: list[dict[str, Any]] = []
    for q in questions:
        lang = q.language or kb.language_of(q.question)
        intent = intent_of(q.question) if intent_of else None
        result = kb.search(q.question, k=k, intent=intent)
        ranked = [h.article.id for h in result.hits]
        positions = [ranked.index(a) + 1 for a in q.acceptable if a in ranked]
        rank = min(positions) if positions else None
        expected = kb.index.articles.get(q.article) if q.article else None
        rows.append(
            {
                "question": q.question,
                "language": "zh" if lang == "mixed" else lang,
                "expected": q.article,
                "acceptable": list(q.acceptable),
                "expected_language": expected.language if expected else None,
                "rank": rank,
                "answered": result.answer is not None,
                "answer": result.answer.article.id if result.answer else None,
                "choices": [h.article.id for h in result.choices],
                "confidence": round(result.confidence, 4),
                "top": ranked,
            }
        )
    answerable = [r for r in rows if r["expected"]]
    report: dict[str, Any] = {"overall": _scores(answerable)}
    for language in sorted({str(r["language"]) for r in answerable}):
        report[language] = _scores([r for r in answerable if r["language"] == language])
    cross = [
        r for r in answerable if r["expected_language"] and r["expected_language"] != r["language"]
    ]
    if cross:
        report["cross_language"] = _scores(cross)
    unknown = [r["expected"] for r in answerable if r["expected"] not in kb.index.articles]
    report["unknown_expected_articles"] = sorted(set(unknown))
    unanswerable = [r for r in rows if not r["expected"]]
    decision = kb.retriever.decision
    threshold = kb.retrieval_settings.answer_threshold
    report["decision"] = {
        "method": decision.method,
        "answer_precision_target": decision.answer_precision,
        "threshold": decision.answer_threshold if threshold is None else threshold,
    }
    clarified = [r for r in answerable if not r["answered"] and r["choices"]]
    report["answering"] = {
        # Of the answerable, how many got an answer, and how many of those were right.
        "answered_rate": _share(answerable, lambda r: r["answered"]),
        "answered_precision": _share(
            [r for r in answerable if r["answered"]], lambda r: r["answer"] in r["acceptable"]
        ),
        "clarified_rate": _share(answerable, lambda r: not r["answered"] and r["choices"]),
        "clarified_right": _share(
            clarified, lambda r: bool(set(r["choices"]) & set(r["acceptable"]))
        ),
        "unanswerable": len(unanswerable),
        "declined_rate": _share(unanswerable, lambda r: not r["answered"]),
        # The most any threshold on this confidence could answer at the target precision,
        # chosen on these very questions: the ceiling for the fitted decision.
        "best_answered_at_target": best_coverage(answerable, decision.answer_precision),
    }
    report["curve"] = precision_curve(answerable)
    report["misses"] = [r for r in answerable if r["rank"] != 1]
    report["wrongly_answered_unanswerable"] = [r for r in unanswerable if r["answered"]]
    return report


def precision_curve(rows: list[dict[str, Any]], points: int = 20) -> list[dict[str, float]]:
    """Answered rate and precision when answering, were the bot to answer at or above each
    confidence: every `len/points`-th question in order of confidence, and the last."""
    ordered = sorted(rows, key=lambda r: -r["confidence"])
    out: list[dict[str, float]] = []
    right = 0
    step = max(1, len(ordered) // points)
    for n, r in enumerate(ordered, start=1):
        right += r["top"][:1] != [] and r["top"][0] in r["acceptable"]
        if n % step == 0 or n == len(ordered):
            out.append(
                {
                    "confidence": r["confidence"],
                    "answered_rate": round(n / len(ordered), 4),
                    "precision": round(right / n, 4),
                }
            )
    return out


def best_coverage(rows: list[dict[str, Any]], precision: float) -> float | None:
    """The largest share of `rows` answered at or above one confidence threshold with their
    top hit right at least `precision` of the time (questions of equal confidence answered
    together); 0 when no threshold reaches it, None without rows."""
    if not rows:
        return None
    ordered = sorted(rows, key=lambda r: -r["confidence"])
    best = 0
    right = 0
    for n, r in enumerate(ordered, start=1):
        right += r["top"][:1] != [] and r["top"][0] in r["acceptable"]
        last_of_tie = n == len(ordered) or ordered[n]["confidence"] != r["confidence"]
        if last_of_tie and right >= precision * n:
            best = n
    return round(best / len(ordered), 4)


def suggest(report: dict[str, Any], precision: float) -> dict[str, float] | None:
    """The operating point on these questions: the lowest confidence whose answers at or above
    it are right at least `precision` of the time, and what it answers."""
    best = None
    for point in report["curve"]:
        if point["precision"] >= precision:
            best = point
    return best


def _share(rows: list[dict[str, Any]], pred: Any) -> float | None:
    return round(sum(1 for r in rows if pred(r)) / len(rows), 4) if rows else None


def _scores(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    if not n:
        return {"n": 0, "recall_at_1": None, "recall_at_5": None, "mrr": None}
    return {
        "n": n,
        "recall_at_1": round(sum(r["rank"] == 1 for r in rows) / n, 4),
        "recall_at_5": round(sum(r["rank"] is not None and r["rank"] <= 5 for r in rows) / n, 4),
        "mrr": round(sum(1 / r["rank"] for r in rows if r["rank"]) / n, 4),
    }


def write_report(report: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "kb_report.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return path
