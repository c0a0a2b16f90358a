"""Splits text into words with spaCy: a blank English pipeline, and a blank Chinese one on jieba.

Blank pipelines ship with spaCy itself (no model download). Lookup-table entries and configured
user words are added to jieba's dictionary so product names stay whole.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, ClassVar

from bot.errors import DataProblem, TrainingDataError
from bot.nlu.component import BaseComponent, TrainContext
from bot.nlu.types import Message
from bot.pipeline_config.params import SpacyTokenizerParams

log = logging.getLogger(__name__)


def import_spacy() -> Any:
    """Import spaCy without letting thinc import torch, which costs over a second of start-up.

    Blank pipelines never touch thinc's torch shims. torch stays importable afterwards for the
    sentence-transformers back end: only thinc's one-time probe is made to miss it.
    """
    if "spacy" in sys.modules or "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` fail
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


def read_user_dictionaries(path: Path) -> set[str]:
    """The words of jieba user dictionaries: one file, or every file in a folder (as Rasa's
    JiebaTokenizer reads its dictionary_path). Each line is "word [frequency] [tag]"."""
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    words: set[str] = set()
    for f in files:
        try:
            lines = f.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise TrainingDataError(
                [DataProblem(str(f), None, f"cannot read the jieba dictionary: {exc}")]
            ) from exc
        words |= {line.split()[0] for line in lines if line.strip()}
    return words


class SpacyTokenizer(BaseComponent):
    name: ClassVar[str] = "SpacyTokenizer"
    params: SpacyTokenizerParams

    def __init__(self, params: SpacyTokenizerParams, user_words: list[str] | None = None) -> None:
        super().__init__(params)
        self.user_words = sorted(set(params.user_words) | set(user_words or []))
        self._nlp: dict[str, Any] = {}

    def _pipeline(self, lang: str) -> Any:
        nlp = self._nlp.get(lang)
        if nlp is None:
            spacy = import_spacy()
            if lang == "zh":
                if self.params.zh_segmenter == "jieba":
                    import jieba

                    # spaCy warms jieba up on creation; silence its progress chatter first.
                    jieba.setLogLevel(logging.WARNING)
                nlp = spacy.blank(
                    "zh", config={"nlp": {"tokenizer": {"segmenter": self.params.zh_segmenter}}}
                )
                if self.params.zh_segmenter == "jieba":
                    for word in self.user_words:
                        # jieba splits on spaces, so only single-chunk words can be kept whole.
                        if word and " " not in word:
                            jieba.add_word(word)
            else:
                nlp = spacy.blank("en")
            self._nlp[lang] = nlp
        return nlp

    def warm_up(self) -> None:
        for lang in ("en", "zh"):
            self._pipeline(lang)("warm up 预热")

    def tokenize(self, text: str, language: str) -> list[str]:
        doc = self._pipeline("en" if language == "en" else "zh")(text)
        return [t.text for t in doc if not t.is_space]

    def train(self, ctx: TrainContext) -> None:
        words = {v for values in ctx.data.lookups.values() for v in values}
        words |= {e.value for ex in ctx.data.examples for e in ex.entities}
        if self.params.dictionary_path:
            path = Path(self.params.dictionary_path)
            words |= read_user_dictionaries(path if path.is_absolute() else ctx.base_dir / path)
        self.user_words = sorted(set(self.user_words) | {w for w in words if len(w) <= 30})
        self._nlp.clear()

    def process(self, message: Message) -> None:
        message.tokens = self.tokenize(message.text, message.tokenizer_language)

    def persist(self, directory: Path) -> None:
        (directory / "user_words.json").write_text(
            json.dumps(self.user_words, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, params: Any, directory: Path) -> SpacyTokenizer:
        words = json.loads((directory / "user_words.json").read_text(encoding="utf-8"))
        tok = cls(params, words)
        tok.warm_up()
        return tok
