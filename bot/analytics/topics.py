"""Reading what customers wrote, in bulk: knowledge gaps grouped into topics, and the sentiment
and key phrases of rating comments (jieba for Chinese)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.analytics.facts import Question

Embed = Callable[[list[str]], np.ndarray]
Analyse = Callable[[str], str]  # text -> negative | neutral | positive
SAME_TOPIC = 0.72  # cosine between sentence embeddings; measured on the sample gaps


@dataclass
class Gap:
    label: str  # the most typical question of the group
    count: int
    language: str
    examples: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "count": self.count,
            "language": self.language,
            "examples": self.examples,
        }


def group_gaps(
    questions: Sequence[Question],
    embed: Embed | None,
    *,
    k: int = 10,
    threshold: float = SAME_TOPIC,
) -> list[Gap]:
    """Questions the bot could not answer, grouped by meaning so the top gaps read as topics.

    Greedy leader clustering over normalised sentence embeddings (character n-gram TF-IDF when
    no embedder is given): each question joins the closest group if it is close enough, else
    starts one. The same question asked twice counts twice."""
    texts = [q.text.strip() for q in questions if q.text.strip()]
    if not texts:
        return []
    distinct = list(dict.fromkeys(texts))
    counts = Counter(texts)
    vectors = _vectors(distinct, embed)
    order = sorted(range(len(distinct)), key=lambda i: -counts[distinct[i]])
    centroids: list[np.ndarray] = []
    members: list[list[int]] = []
    for i in order:
        v = vectors[i]
        if centroids:
            sims = np.array([float(c @ v) for c in centroids])
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                members[best].append(i)
                c = centroids[best] * (len(members[best]) - 1) + v
                centroids[best] = c / (np.linalg.norm(c) or 1.0)
                continue
        centroids.append(v)
        members.append([i])
    lang_of = {q.text.strip(): q.language for q in questions}
    gaps = []
    for group, centre in zip(members, centroids, strict=True):
        total = sum(counts[distinct[i]] for i in group)
        typical = max(group, key=lambda i: (float(vectors[i] @ centre), counts[distinct[i]]))
        by_count = sorted(group, key=lambda i: -counts[distinct[i]])
        gaps.append(
            Gap(
                distinct[typical],
                total,
                lang_of.get(distinct[typical], "zh"),
                [distinct[i] for i in by_count[:5]],
            )
        )
    gaps.sort(key=lambda g: (-g.count, g.label))
    return gaps[:k]


def _vectors(texts: list[str], embed: Embed | None) -> np.ndarray:
    if embed is not None:
        v = np.asarray(embed(texts), dtype=np.float32)
    else:
        from sklearn.feature_extraction.text import TfidfVectorizer

        v = (
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
            .fit_transform(texts)
            .toarray()
            .astype(np.float32)
        )
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(v / np.where(norms == 0, 1.0, norms))


def comment_sentiment(comments: Sequence[str], analyse: Analyse | None) -> dict[str, int]:
    out = {"negative": 0, "neutral": 0, "positive": 0}
    if analyse is None:
        return out
    for text in comments:
        if text.strip():
            out[analyse(text)] += 1
    return out


_EN_EXTRA_STOP = {"bot", "just", "really", "got", "did", "didn", "don", "ve", "ll", "im"}


def key_phrases(comments: Sequence[str], language: str, k: int = 10) -> list[dict[str, Any]]:
    """The words and phrases comments keep coming back to: jieba's TF-IDF keywords for
    Chinese; for English, the most frequent one- and two-word phrases without stop words."""
    texts = [c for c in comments if c.strip()]
    if not texts:
        return []
    if language == "zh":
        import jieba.analyse

        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(set(jieba.analyse.extract_tags(text, topK=5)))
        return [{"phrase": p, "count": n} for p, n in counts.most_common(k)]
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    stop = list(ENGLISH_STOP_WORDS | _EN_EXTRA_STOP)
    vec = CountVectorizer(ngram_range=(1, 2), stop_words=stop, binary=True)
    try:
        matrix = vec.fit_transform(texts)
    except ValueError:  # only stop words
        return []
    totals = np.asarray(matrix.sum(axis=0)).ravel()
    vocab = vec.get_feature_names_out()
    ranked = sorted(zip(vocab, totals, strict=True), key=lambda x: (-x[1], -len(x[0]), x[0]))
    # A phrase that only ever appears inside a longer counted phrase adds nothing.
    out: list[dict[str, Any]] = []
    for phrase, n in ranked:
        if len(out) == k:
            break
        if any(phrase in o["phrase"] and o["count"] == n for o in out):
            continue
        out.append({"phrase": str(phrase), "count": int(n)})
    return out
