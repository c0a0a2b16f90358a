"""Sparse n-gram features, like Rasa's CountVectorsFeaturizer: words, or characters within words.

Digits are folded to 0 so that "T-1002" and "T-7781" share features, while their shape still
tells them apart from a twelve-digit order number. Weights are sublinear tf-idf, L2-normalised
per block, which suits a linear classifier better than raw counts.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bot.nlu.component import BaseComponent, TrainContext
from bot.nlu.types import Message
from bot.pipeline_config.params import CountVectorsParams

_DIGITS = re.compile(r"\d")


def normalise_token(token: str) -> str:
    return _DIGITS.sub("0", unicodedata.normalize("NFKC", token).casefold())


class CountVectorsFeaturizer(BaseComponent):
    name: ClassVar[str] = "CountVectorsFeaturizer"
    params: CountVectorsParams

    def __init__(
        self,
        params: CountVectorsParams,
        vocabulary: dict[str, int] | None = None,
        idf: np.ndarray | None = None,
    ) -> None:
        super().__init__(params)
        self.vocabulary = vocabulary or {}
        self.idf = idf if idf is not None else np.zeros(0, dtype=np.float32)

    def grams(self, tokens: list[str]) -> list[str]:
        toks = [normalise_token(t) for t in tokens if t.strip()]
        lo, hi = self.params.min_ngram, self.params.max_ngram
        out: list[str] = []
        if self.params.analyzer == "word":
            for n in range(lo, hi + 1):
                out.extend(" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
        elif self.params.analyzer == "char_wb":
            for tok in toks:
                padded = f" {tok} "
                for n in range(lo, hi + 1):
                    out.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
        else:  # char: n-grams across the whole normalised text
            text = " ".join(toks)
            for n in range(lo, hi + 1):
                out.extend(text[i : i + n] for i in range(len(text) - n + 1))
        return [g for g in out if g.strip()]

    def train(self, ctx: TrainContext) -> None:
        docs = [set(self.grams(m.tokens)) for m in ctx.messages]
        df: Counter[str] = Counter()
        for d in docs:
            df.update(d)
        kept = [g for g, c in df.items() if c >= self.params.min_df]
        kept.sort(key=lambda g: (-df[g], g))
        if self.params.max_features:
            kept = kept[: self.params.max_features]
        kept.sort()
        self.vocabulary = {g: i for i, g in enumerate(kept)}
        n = max(len(docs), 1)
        self.idf = np.array([math.log((1 + n) / (1 + df[g])) + 1.0 for g in kept], dtype=np.float32)

    def vectorize(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
        counts: Counter[int] = Counter()
        vocab = self.vocabulary
        for g in self.grams(tokens):
            idx = vocab.get(g)
            if idx is not None:
                counts[idx] += 1
        if not counts:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32), len(vocab)
        ids = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        vals = (1.0 + np.log(tf)) * self.idf[ids]
        vals /= float(np.linalg.norm(vals)) or 1.0
        return ids, vals.astype(np.float32), len(vocab)

    def dense(self, message: Message) -> np.ndarray:
        """The message's n-gram vector as a dense row, for the small linear models (sentiment,
        grievance) that stack it with other features; a message without tokens is read as its
        characters."""
        ids, vals, size = self.vectorize(message.tokens or list(message.text))
        row = np.zeros(size, dtype=np.float32)
        row[ids] = vals
        return row

    def process(self, message: Message) -> None:
        message.sparse.append(self.vectorize(message.tokens))

    def persist(self, directory: Path) -> None:
        (directory / "vocabulary.json").write_text(
            json.dumps(self.vocabulary, ensure_ascii=False), encoding="utf-8"
        )
        np.savez(directory / "idf.npz", idf=self.idf)

    @classmethod
    def load(cls, params: Any, directory: Path) -> CountVectorsFeaturizer:
        vocab = json.loads((directory / "vocabulary.json").read_text(encoding="utf-8"))
        with np.load(directory / "idf.npz", allow_pickle=False) as f:
            idf = f["idf"]
        return cls(params, vocab, idf)
