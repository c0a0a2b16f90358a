"""BM25 over chunks: jieba words plus Han character bigrams for Chinese, spaCy words for English.

Postings hold precomputed BM25 weights as numpy arrays, so a query costs a few array
concatenations and one bincount, even at a million chunks.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

_HAN = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"\w", re.UNICODE)


def stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS as EN
    from spacy.lang.zh.stop_words import STOP_WORDS as ZH

    # Question words carry the topic in support questions ("how", "when"); keep them.
    keep = {"how", "when", "where", "why", "what", "which", "not", "no", "怎么", "多久", "为什么"}
    return frozenset((set(EN) | set(ZH)) - keep)


def lexical_terms(tokens: Sequence[str], stop: frozenset[str]) -> list[str]:
    """Index terms from tokens: case-folded words without stop words or punctuation, plus
    bigrams of adjacent Han characters, which match across jieba's segmentation choices."""
    terms: list[str] = []
    han_run: list[str] = []
    for tok in tokens:
        t = unicodedata.normalize("NFKC", tok).casefold().strip()
        if not t or not _WORD.search(t):
            continue
        if t not in stop:
            terms.append(t)
        for ch in t:
            if _HAN.match(ch):
                han_run.append(ch)
            else:
                han_run.append(" ")
        han_run.append("")  # jieba word boundary: bigrams may still span it
    text = "".join(han_run)
    terms += [text[i : i + 2] for i in range(len(text) - 1) if " " not in text[i : i + 2]]
    return terms


class BM25Index:
    # On a large base a term found in over a tenth of all chunks carries almost no weight
    # (low idf) but costs the most to score; such terms are skipped there.
    LARGE_BASE = 10_000
    MAX_DF_SHARE = 0.1

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.size = 0
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def build(self, docs: Sequence[Sequence[str]]) -> None:
        self.size = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float32)
        avg = float(lengths.mean()) if len(docs) else 1.0
        raw: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                ids, tfs = raw.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        self.postings = {}
        norm = self.k1 * (1 - self.b + self.b * lengths / max(avg, 1e-9))
        for term, (ids, tfs) in raw.items():
            id_arr = np.array(ids, dtype=np.int32)
            tf_arr = np.array(tfs, dtype=np.float32)
            idf = math.log(1 + (self.size - len(ids) + 0.5) / (len(ids) + 0.5))
            weights = idf * tf_arr * (self.k1 + 1) / (tf_arr + norm[id_arr])
            self.postings[term] = (id_arr, weights.astype(np.float32))

    def search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        lists = [self.postings[t] for t in dict.fromkeys(terms) if t in self.postings]
        if self.size >= self.LARGE_BASE:
            limit = self.MAX_DF_SHARE * self.size
            lists = [p for p in lists if len(p[0]) <= limit]
        if not lists:
            return []
        ids = np.concatenate([p[0] for p in lists])
        weights = np.concatenate([p[1] for p in lists])
        uniq, inverse = np.unique(ids, return_inverse=True)
        scores = np.bincount(inverse, weights=weights)
        top = min(k, len(uniq))
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best])]
        return [(int(uniq[i]), float(scores[i])) for i in best]


Tokenize = Callable[[str], list[str]]
