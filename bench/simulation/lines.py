"""What simulated customers say: the NLU training examples and the knowledge benchmark's
questions (read at run time), and the phrases in bench/data/simulated_lines.yml that neither
provides (nudges, ratings, agents' answers, gibberish)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.config import Config
from bot.nlu import rasa_format

from .settings import CJK, LANGUAGES

PHRASES = Path(__file__).resolve().parents[1] / "data" / "simulated_lines.yml"


@dataclass(frozen=True)
class Question:
    text: str
    article: str | None
    language: str


Phrases = dict[str, dict[str, dict[str, list[str]]]]  # section -> kind -> language -> lines


def load_phrases() -> Phrases:
    """bench/data/simulated_lines.yml: what the NLU data and the questions do not provide."""
    phrases: Phrases = yaml.safe_load(PHRASES.read_text("utf-8"))
    return phrases


@dataclass
class Lines:
    """Customer lines per intent and language, the benchmark questions, and the phrases."""

    phrases: Phrases = field(default_factory=load_phrases)
    intents: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    questions: dict[str, list[Question]] = field(default_factory=dict)  # answerable
    unanswerable: dict[str, list[Question]] = field(default_factory=dict)
    by_article: dict[str, list[Question]] = field(default_factory=dict)

    def pick(self, rng: random.Random, intent: str, language: str) -> str:
        """A customer line of `intent`, from the NLU data."""
        pool = self.intents.get(intent, {}).get(language)
        return rng.choice(pool or self.phrases["fallback"][intent][language])

    def phrase(self, rng: random.Random, section: str, kind: str, language: str) -> str:
        return rng.choice(self.phrases[section][kind][language])

    def question(self, rng: random.Random, language: str, *, answerable: bool = True) -> Question:
        pool = (self.questions if answerable else self.unanswerable).get(language)
        if pool:
            return rng.choice(pool)
        kind = "question" if answerable else "out_of_scope"
        return Question(self.phrase(rng, "fallback", kind, language), None, language)


def _language_of(text: str, source: str = "") -> str:
    """The language a line belongs to: its data file's folder or name if it says, else whether
    it has Chinese characters."""
    path = Path(source.rsplit(":", 1)[0]) if source else None
    if path is not None:
        for part in (*path.parent.parts, path.stem):
            for lang in LANGUAGES:
                if part == lang or part.endswith(f"_{lang}") or part.startswith(f"{lang}_"):
                    return lang
    return "zh" if CJK.search(text) else "en"


def load_lines(config: Config, questions: Path | None = None) -> Lines:
    """Read the customer lines at run time: the NLU training examples (config nlu.data) and the
    knowledge benchmark's questions (bench/data/kb_questions.yml, when present)."""
    lines = Lines()
    data = rasa_format.load(config.path(config.nlu.data))
    for ex in data.examples:
        lang = _language_of(ex.text, ex.source)
        lines.intents.setdefault(ex.intent, {}).setdefault(lang, []).append(ex.text)
    path = questions or Path(config.base_dir) / "bench" / "data" / "kb_questions.yml"
    if path.is_file():
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for q in raw.get("questions", []):
            text = str(q.get("question") or "").strip()
            if not text:
                continue
            lang = str(q.get("language") or _language_of(text))
            article = q.get("article")
            item = Question(text, str(article) if article else None, lang)
            target = lines.questions if item.article else lines.unanswerable
            target.setdefault(lang, []).append(item)
            if item.article:
                lines.by_article.setdefault(item.article, []).append(item)
    for lang in LANGUAGES:  # the NLU's question examples, when there is no benchmark file
        if not lines.questions.get(lang):
            lines.questions[lang] = [
                Question(t, None, lang)
                for i, per in lines.intents.items()
                if i.startswith("question_")
                for t in per.get(lang, [])
            ]
    return lines
