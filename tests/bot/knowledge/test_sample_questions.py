"""The sample shop's evaluation questions are never among its articles' own phrasings, so
bench/kb.py measures paraphrases, not look-ups."""

from __future__ import annotations

import re
import unicodedata

import yaml

from bot.knowledge.loader import load_base
from tests.conftest import REPO


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


def test_no_evaluation_question_is_an_article_title_or_question() -> None:
    raw = yaml.safe_load((REPO / "bench/data/kb_questions.yml").read_text(encoding="utf-8"))
    asked = {_key(q["question"]): q["question"] for q in raw["questions"]}
    base = load_base(REPO / "knowledge")
    assert len(base.articles) >= 90  # the whole sample shop was read
    phrasings = {_key(text): a.id for a in base.articles for text in (a.title, *a.questions)}
    shared = sorted(asked[k] for k in asked.keys() & phrasings.keys())
    assert shared == []
