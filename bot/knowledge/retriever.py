"""Search: candidates from every active view's faiss index and from BM25, scored by the fitted
fusion (scoring.py), one hit per translation family in the customer's language, and a decision
(decision.py): answer with the top article, offer the close ones as choices, or decline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.knowledge.article import Article
from bot.knowledge.classifier import PhrasingClassifier
from bot.knowledge.decision import AnswerDecision, features, rule_decision
from bot.knowledge.index import MAIN, KnowledgeIndex
from bot.knowledge.scoring import Components, FusionWeights, components, detail, fuse
from bot.nlu.embedders import Embedder

log = logging.getLogger(__name__)
LEXICAL_SCORED = 200  # BM25 chunks whose scores feed the fusion (candidates come from fewer)


@dataclass(frozen=True)
class RetrievalSettings:
    dense_candidates: int = 50
    lexical_candidates: int = 50
    category_boost: float = 0.0
    answer_precision: float = 0.95
    clarify_precision: float = 0.9
    answer_threshold: float | None = None  # overrides the fitted threshold when set
    top_k: int = 3
    max_choices: int = 3
    intent_categories: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    article: Article
    score: float  # fused score (comparable within one base)
    dense: float  # best centred cosine of the article's chunks
    lexical: float  # BM25 as a share of the question's best article
    chunk: str  # the chunk that matched best
    parts: Components | None = field(default=None, compare=False, repr=False)  # for the decision

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
    confidence: float  # that hits[0] answers the question
    answer: Hit | None  # hits[0] when confidence clears the fitted threshold
    choices: tuple[Hit, ...] = ()  # when no answer but a right one is likely among these
    clarify_confidence: float = 0.0

    @property
    def decision(self) -> str:
        return "answer" if self.answer else "clarify" if self.choices else "decline"

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "language": self.language,
            "decision": self.decision,
            "confidence": round(self.confidence, 4),
            "clarify_confidence": round(self.clarify_confidence, 4),
            "answer": self.answer.to_dict() if self.answer else None,
            "choices": [h.to_dict() for h in self.choices],
            "hits": [h.to_dict() for h in self.hits],
        }


def decision_features(ranked: list[Hit], weights: FusionWeights) -> tuple[float, ...]:
    """The answer decision's features of a ranking (decision.FEATURES), best first."""
    top = ranked[0].parts
    second = ranked[1].parts if len(ranked) > 1 else None
    extra = detail(top, second, weights) if top is not None else ()
    return features([h.score for h in ranked[:3]], ranked[0].lexical, extra)


QueryParts = dict[str, tuple[np.ndarray, float, float]]


class Retriever:
    def __init__(
        self,
        index: KnowledgeIndex,
        embedders: dict[str, Embedder],
        terms_of: Callable[[str], list[str]],
        detect_language: Callable[[str], str],
        settings: RetrievalSettings,
    ) -> None:
        self.index = index
        self.embedders = embedders
        self.terms_of = terms_of
        self.detect_language = detect_language
        self.settings = settings
        self._text_rows: dict[str, list[int]] | None = None
        # The weights and decision as read from the index's tuning, rebuilt only when the
        # tuning entry they came from is replaced (not on every search).
        self._weights: tuple[Any, FusionWeights] | None = None
        self._decision: tuple[Any, AnswerDecision] | None = None

    @property
    def embedder(self) -> Embedder:
        return self.embedders[MAIN]

    @property
    def weights(self) -> FusionWeights:
        d = (self.index.tuning or {}).get("weights")
        if self._weights is None or self._weights[0] is not d:
            self._weights = (d, FusionWeights.from_dict(d))
        return self._weights[1]

    @property
    def decision(self) -> AnswerDecision:
        d = (self.index.tuning or {}).get("decision")
        if self._decision is None or self._decision[0] is not d:
            s = self.settings
            self._decision = (
                d,
                AnswerDecision.from_dict(d)
                if d
                else rule_decision(s.answer_precision, s.clarify_precision),
            )
        return self._decision[1]

    @property
    def cross_lingual_offset(self) -> float:
        return float((self.index.tuning or {}).get("cross_lingual_offset", 0.0))

    # -- the search -----------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        language: str | None = None,
        intent: str | None = None,
        k: int | None = None,
        vector: np.ndarray | None = None,
    ) -> SearchResult:
        """Top articles for `query`. `vector` reuses the main embedder's embedding that the
        NLU already computed."""
        lang = language or self.detect_language(query)
        lang = "zh" if lang == "mixed" else lang
        vectors: dict[str, np.ndarray] = {}
        for name in self.index.views:
            if name == MAIN:
                vectors[name] = vector if vector is not None else self.embedder.embed([query])[0]
            elif name == lang and name in self.embedders:
                vectors[name] = self.embedders[name].embed([query])[0]
        comps = self.components(vectors, self.terms_of(query), lang, set())
        return self.decide(query, lang, self.rank(comps, self.weights, lang, intent), k)

    def text_rows(self, text: str) -> set[int]:
        """Chunks whose text is exactly `text` (hidden when a phrasing is searched for itself)."""
        if self._text_rows is None:
            rows: dict[str, list[int]] = {}
            for i, c in enumerate(self.index.chunks):
                rows.setdefault(c.text, []).append(i)
            self._text_rows = rows
        return set(self._text_rows.get(text, ()))

    def components(
        self,
        vectors: dict[str, np.ndarray],
        terms: list[str],
        language: str,
        excluded: set[int],
        classifiers: dict[str, PhrasingClassifier] | None = None,
    ) -> dict[str, Components]:
        """Candidates and their score parts; `classifiers` replaces the index's own (tuning
        passes ones that never saw the phrasing searched)."""
        idx, s = self.index, self.settings
        parts: QueryParts = {n: idx.views[n].query_parts(v) for n, v in vectors.items()}
        candidates: set[str] = set()
        for name, (q, _, _) in parts.items():
            view = idx.views[name]
            for pos in view.nearest(q, s.dense_candidates).tolist():
                row = int(view.rows[pos])
                if row not in excluded:
                    candidates.add(idx.chunks[row].article_id)
        lexical: dict[str, float] = {}
        for n, (row, score) in enumerate(idx.lexical.search(terms, LEXICAL_SCORED)):
            if row in excluded:
                continue
            art_id = idx.chunks[row].article_id
            if art_id not in lexical:
                lexical[art_id] = score
                if n < s.lexical_candidates:
                    candidates.add(art_id)
        return components(
            idx,
            candidates,
            parts,
            lexical,
            language,
            excluded,
            self.cross_lingual_offset,
            idx.classifiers if classifiers is None else classifiers,
        )

    def rank(
        self,
        comps: dict[str, Components],
        weights: FusionWeights,
        language: str,
        intent: str | None = None,
    ) -> list[Hit]:
        """One hit per translation family, best first, in the customer's language where the
        family has it."""
        s = self.settings
        prefixes = s.intent_categories.get(intent or "", ())
        best: dict[str, Hit] = {}
        for art_id, c in comps.items():
            article = self.index.articles[art_id]
            score = fuse(c, weights)
            if prefixes and any(article.category.startswith(p) for p in prefixes):
                score += s.category_boost
            family = self.index.family[art_id]
            if family not in best or score > best[family].score:
                local = self.index.members[family].get(language) or article
                best[family] = Hit(local, score, c.dense, c.lexical, c.chunk, c)
        return sorted(best.values(), key=lambda h: -h.score)

    def decide(self, query: str, language: str, ranked: list[Hit], k: int | None) -> SearchResult:
        s = self.settings
        hits = ranked[: k or s.top_k]
        if not ranked:
            return SearchResult(query, language, (), 0.0, None)
        decision = self.decision
        x = decision_features(ranked, self.weights)
        confidence = decision.confidence(x)
        threshold = (
            s.answer_threshold if s.answer_threshold is not None else decision.answer_threshold
        )
        if confidence >= threshold:
            return SearchResult(query, language, tuple(hits), confidence, ranked[0])
        clarify = decision.clarify_confidence(x)
        choices: tuple[Hit, ...] = ()
        if len(ranked) > 1 and clarify >= decision.clarify_threshold:
            choices = tuple(ranked[: s.max_choices])
        return SearchResult(query, language, tuple(hits), confidence, None, choices, clarify)
