"""Public FAQ sets turned into what a business would `relaydesk kb import`: a CSV of question,
answer, category, language; and the questions to score it with, split into dev (design choices)
and test (reported). Read from ../shared/datasets; nothing is copied into the repository.

- StackFAQ: 125 StackExchange threads; an article is the thread's question (title) and its top
  answer; the 1,249 user rephrasings are the questions, a seeded half dev and half test.
- BANKING77 as an FAQ: an article per intent with 5 phrasings drawn (seeded) from the train
  split and the intent's name as its answer; dev questions are 10 other train phrasings per
  intent, test questions the official test split.
- AFQMC (CLUE dev) as a Chinese FAQ: an article per distinct first sentence, one phrasing each;
  the second sentence of every matching pair is a question, pairs with even idx dev, odd test.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

from _common import REPO

DATASETS = REPO.parent / "shared" / "datasets"
SEED = 13


@dataclass(frozen=True)
class FaqSet:
    name: str
    language: str
    rows: list[dict[str, str]]  # the import CSV's rows
    dev: list[tuple[str, str]]  # (question, article title that answers it)
    test: list[tuple[str, str]]


def stackfaq() -> FaqSet:
    data = json.loads((DATASETS / "stackfaq/stackExchange-FAQ.json").read_text("utf-8"))
    rows, questions = [], []
    for thread in data["root"]["qapair"]:
        title = thread["question"].strip()
        rows.append(_row(title, thread["answer"][0].strip(), "service/stackexchange", "en"))
        for r in thread["rephr"]:
            if r and r.strip() not in ("", "*"):
                questions.append((r.strip(), title))
    random.Random(SEED).shuffle(questions)
    half = len(questions) // 2
    return FaqSet("stackfaq", "en", rows, questions[:half], questions[half:])


def banking(per_article: int = 5) -> FaqSet:
    by_intent: dict[str, list[str]] = {}
    with (DATASETS / "banking77/train.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            by_intent.setdefault(r["category"], []).append(r["text"].strip())
    rng = random.Random(SEED)
    rows, dev = [], []
    for intent in sorted(by_intent):
        texts = sorted(set(by_intent[intent]))
        rng.shuffle(texts)
        title = intent.replace("_", " ").capitalize()
        answer = f"{title}: how our bank handles it."
        for text in texts[:per_article]:
            rows.append(_row(text, answer, "service/banking", "en", title))
        dev += [(t, title) for t in texts[per_article : per_article + 10]]
    with (DATASETS / "banking77/test.csv").open(encoding="utf-8") as f:
        test = [
            (r["text"].strip(), r["category"].replace("_", " ").capitalize())
            for r in csv.DictReader(f)
        ]
    return FaqSet("banking77", "en", rows, dev, test)


def afqmc() -> FaqSet:
    pairs = [json.loads(line) for line in (DATASETS / "afqmc/dev.json").open(encoding="utf-8")]
    titles: dict[str, None] = {}
    for p in pairs:
        titles.setdefault(p["sentence1"].strip(), None)
    # Distinct answers (rows sharing an answer would merge into one article) that do not repeat
    # the question, as a real answer would not.
    rows = [_row(t, f"第 {n} 号问题的解答。", "service/alipay", "zh") for n, t in enumerate(titles)]
    matching = [p for p in pairs if p["label"] == "1"]
    dev = [(p["sentence2"].strip(), p["sentence1"].strip()) for p in matching if p["idx"] % 2 == 0]
    test = [(p["sentence2"].strip(), p["sentence1"].strip()) for p in matching if p["idx"] % 2]
    return FaqSet("afqmc", "zh", rows, dev, test)


def _row(
    question: str, answer: str, category: str, language: str, title: str = ""
) -> dict[str, str]:
    return {
        "question": question,
        "answer": answer,
        "category": category,
        "language": language,
        "title": title or question,
    }


def write_csv(rows: list[dict[str, str]], path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(
            f, fieldnames=["question", "answer", "category", "language", "title"]
        )
        writer.writeheader()
        writer.writerows(rows)
    return path


SETS = {"stackfaq": stackfaq, "banking77": banking, "afqmc": afqmc}
