"""Hybrid retrieval: dense (faiss) and lexical (BM25) candidates fused by reciprocal rank, boosted
by the intent's categories, answered in the customer's language when a translation exists, and
scored with a calibrated probability that the top article answers the question.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.knowledge.article import Article
from bot.knowledge.index import KnowledgeIndex
from bot.nlu.embedders import Embedder

log = logging.getLogger(__name__)
FEATURES = ("dense_top", "dense_margin", "lexical_top", "in_both", "rrf_top", "rrf_margin")


@dataclass(frozen=True)
class RetrievalSettings:
    dense_candidates: int = 50
    lexical_candidates: int = 50
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 0.5
    category_boost: float = 0.0
    answer_threshold: float = 0.5
    top_k: int = 3
    intent_categories: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    article: Article
    score: float  # fused rank score (only comparable within one search)
    dense: float  # best cosine of the article's chunks
    lexical: float  # best BM25 score of the article's chunks
    chunk: str  # the chunk that matched best

    def to_dict(self) -> dict[str, Any]:
        a = self.article
        return {
            "id": a.id,
            "version": a.version,
            "title": a.title,
            "language": a.language,
            "category": a.category,
            "score": round(self.score, 5),
            "dense": round(self.dense, 4),
            "lexical": round(self.lexical, 3),
            "matched": self.chunk,
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    language: str
    hits: tuple[Hit, ...]
    confidence: float  # calibrated probability that hits[0] answers the question
    answer: Hit | None  # hits[0] when confidence clears the threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "language": self.language,
            "confidence": round(self.confidence, 4),
            "answer": self.answer.to_dict() if self.answer else None,
            "hits": [h.to_dict() for h in self.hits],
        }


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


class Retriever:
    def __init__(
        self,
        index: KnowledgeIndex,
        embedder: Embedder,
        terms_of: Callable[[str], list[str]],
        detect_language: Callable[[str], str],
        settings: RetrievalSettings,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.terms_of = terms_of
        self.detect_language = detect_language
        self.settings = settings

    # -- the search -----------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        language: str | None = None,
        intent: str | None = None,
        k: int | None = None,
        vector: np.ndarray | None = None,
        exclude_text: str | None = None,
    ) -> SearchResult:
        """Top articles for `query`. `vector` reuses an embedding the NLU already computed;
        `exclude_text` hides chunks identical to the query (used when calibrating)."""
        k = k or self.settings.top_k
        lang = language or self.detect_language(query)
        lang = "zh" if lang == "mixed" else lang
        q = vector if vector is not None else self.embedder.embed([query])[0]
        candidates = self._candidates(query, q, exclude_text, lang)
        ranked = self._rank(candidates, intent)
        hits = self._localise(ranked, lang)[:k]
        confidence = self._confidence(hits, candidates)
        answer = hits[0] if hits and confidence >= self.settings.answer_threshold else None
        return SearchResult(query, lang, tuple(hits), confidence, answer)

    def _candidates(
        self, query: str, q: np.ndarray, exclude: str | None, language: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Per article: best dense cosine, best BM25, their ranks and the best chunk."""
        idx = self.index
        out: dict[str, dict[str, Any]] = {}
        ids, sims = idx.dense.search(q, self.settings.dense_candidates)
        for i, sim in zip(ids.tolist(), sims.tolist(), strict=True):
            chunk = idx.chunks[i]
            if exclude is not None and chunk.text == exclude:
                continue
            c = out.setdefault(chunk.article_id, {"chunk": chunk.text})
            if "dense" not in c:
                c["dense"] = float(sim)
        # Similarity across languages runs systematically lower than within one; an article
        # with no version in the customer's language gets that measured gap back, so an
        # English question can still find a Chinese-only article.
        offset = float((idx.calibration or {}).get("cross_lingual_offset", 0.0))
        if offset and language:
            for art_id, c in out.items():
                if language not in idx.members[idx.family[art_id]]:
                    c["dense"] += offset
        dense_order = sorted((a for a in out if "dense" in out[a]), key=lambda a: -out[a]["dense"])
        for rank, art_id in enumerate(dense_order):
            out[art_id]["dense_rank"] = rank
        rank = 0
        for i, score in idx.lexical.search(self.terms_of(query), self.settings.lexical_candidates):
            chunk = idx.chunks[i]
            if exclude is not None and chunk.text == exclude:
                continue
            c = out.setdefault(chunk.article_id, {"chunk": chunk.text})
            if "lexical" not in c:
                c["lexical"], c["lexical_rank"] = float(score), rank
                rank += 1
        return out

    def _rank(self, candidates: dict[str, dict[str, Any]], intent: str | None) -> list[Hit]:
        s = self.settings
        prefixes = s.intent_categories.get(intent or "", ())
        hits = []
        for art_id, c in candidates.items():
            fused = 0.0
            if "dense_rank" in c:
                fused += s.dense_weight / (s.rrf_k + c["dense_rank"] + 1)
            if "lexical_rank" in c:
                fused += s.lexical_weight / (s.rrf_k + c["lexical_rank"] + 1)
            article = self.index.articles[art_id]
            if prefixes and any(article.category.startswith(p) for p in prefixes):
                fused *= 1.0 + s.category_boost
            c["fused"] = fused
            hits.append(Hit(article, fused, c.get("dense", 0.0), c.get("lexical", 0.0), c["chunk"]))
        hits.sort(key=lambda h: -h.score)
        return hits

    def _localise(self, hits: Iterable[Hit], language: str) -> list[Hit]:
        """One hit per translation family, in the customer's language where one exists."""
        out: list[Hit] = []
        seen: set[str] = set()
        for hit in hits:
            family = self.index.family[hit.article.id]
            if family in seen:
                continue
            seen.add(family)
            local = self.index.members[family].get(language)
            out.append(Hit(local, hit.score, hit.dense, hit.lexical, hit.chunk) if local else hit)
        return out

    # -- confidence -----------------------------------------------------------------------
    def features(self, hits: list[Hit], candidates: dict[str, dict[str, Any]]) -> list[float]:
        if not hits:
            return [0.0] * len(FEATURES)
        top = hits[0]
        second = hits[1] if len(hits) > 1 else None
        fam = self.index.family
        top_c = [c for a, c in candidates.items() if fam[a] == fam[top.article.id]]
        in_both = float(any("dense" in c and "lexical" in c for c in top_c))
        dense_top = max((c.get("dense", 0.0) for c in top_c), default=0.0)
        lexical_top = max((c.get("lexical", 0.0) for c in top_c), default=0.0)
        other_dense = max(
            (c.get("dense", 0.0) for a, c in candidates.items() if fam[a] != fam[top.article.id]),
            default=0.0,
        )
        s = self.settings
        rrf_scale = (s.dense_weight + s.lexical_weight) / (s.rrf_k + 1)  # best possible score
        return [
            dense_top,
            dense_top - other_dense,
            lexical_top / (lexical_top + 5.0),
            in_both,
            top.score / rrf_scale,
            (top.score - (second.score if second else 0.0)) / rrf_scale,
        ]

    def _confidence(self, hits: list[Hit], candidates: dict[str, dict[str, Any]]) -> float:
        if not hits:
            return 0.0
        x = self.features(hits, candidates)
        cal = self.index.calibration
        if not cal:
            # Uncalibrated: the dense similarity alone, squashed around a typical cut-off.
            return _sigmoid(12.0 * (x[0] - 0.45))
        z = cal["bias"] + sum(w * v for w, v in zip(cal["weights"], x, strict=True))
        return _sigmoid(z)

    def calibrate(
        self,
        positives: list[tuple[str, np.ndarray, str]],
        negatives: list[tuple[str, np.ndarray]],
    ) -> dict[str, Any]:
        """Fit the confidence on the articles' own questions (text, vector, article id), each
        searched with its own chunk hidden, and on (text, vector) pairs no article should
        answer. Stores the fit on the index. Embeds nothing: the vectors come with the data."""
        from sklearn.linear_model import LogisticRegression

        xs: list[list[float]] = []
        ys: list[int] = []
        fam = self.index.family
        offset = self.cross_lingual_gap()
        self.index.calibration = {"cross_lingual_offset": offset}
        for question, q, art_id in positives:
            lang = self.index.articles[art_id].language
            cands = self._candidates(question, q, exclude=question, language=lang)
            hits = self._localise(self._rank(cands, None), self.index.articles[art_id].language)
            xs.append(self.features(hits, cands))
            ys.append(int(bool(hits) and fam[hits[0].article.id] == fam[art_id]))
        for text, q in negatives:
            lang = self.detect_language(text)
            lang = "zh" if lang == "mixed" else lang
            cands = self._candidates(text, q, exclude=None, language=lang)
            hits = self._localise(self._rank(cands, None), lang)
            xs.append(self.features(hits, cands))
            ys.append(0)
        if len(set(ys)) < 2:
            log.warning("knowledge calibration needs right and wrong answers; left uncalibrated")
            return {"examples": len(ys), "calibrated": False, "cross_lingual_offset": offset}
        model = LogisticRegression(C=1.0, max_iter=1000)
        model.fit(np.array(xs), np.array(ys))
        self.index.calibration = {
            "cross_lingual_offset": offset,
            "features": list(FEATURES),
            "weights": [float(w) for w in model.coef_[0]],
            "bias": float(model.intercept_[0]),
            "examples": len(ys),
            "positives": int(sum(ys)),
        }
        return {
            "examples": len(ys),
            "calibrated": True,
            "top1_correct": int(sum(ys)),
            "cross_lingual_offset": round(offset, 4),
        }

    def cross_lingual_gap(self) -> float:
        """How much lower a question's similarity to its own article is in the other language:
        the mean over bilingual articles' questions of best same-language minus best
        other-language cosine (the question's own chunk left out)."""
        idx = self.index
        by_article: dict[str, list[int]] = {}
        for i, c in enumerate(idx.chunks):
            by_article.setdefault(c.article_id, []).append(i)
        gaps = []
        for i, c in enumerate(idx.chunks):
            if c.kind != "question":
                continue
            article = idx.articles[c.article_id]
            members = idx.members[idx.family[article.id]]
            other = next((a for lang, a in members.items() if lang != article.language), None)
            if other is None:
                continue
            same_rows = [j for j in by_article[article.id] if j != i]
            other_rows = by_article.get(other.id, [])
            if not same_rows or not other_rows:
                continue
            v = idx.vectors[i]
            gaps.append(
                float(np.max(idx.vectors[same_rows] @ v) - np.max(idx.vectors[other_rows] @ v))
            )
        return max(0.0, float(np.mean(gaps))) if gaps else 0.0
