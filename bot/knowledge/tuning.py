"""Fitting a base's search to the base itself, at indexing: the fusion weights and the answer
decision, from searches of the base's own phrasings.

Every title or question (up to `max_searches`, a seeded sample) is searched with every chunk of
the same text hidden. Where its article still has another phrasing, the search shows how well the
weights rank: the weights are the grid point with the best recall@1 over those searches (the dev
splits' choice when there are fewer than MIN_GRID_SEARCHES). Searches whose article has only its
body left show question-to-answer matching; searches with the whole article hidden, and the
shipped negatives, show what an unanswerable question looks like. All of them fit the decision.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.knowledge.decision import Example, features, fit_decision
from bot.knowledge.index import MAIN, KnowledgeIndex
from bot.knowledge.retriever import Retriever
from bot.knowledge.scoring import TAUS, Components, FusionWeights

log = logging.getLogger(__name__)
MIN_GRID_SEARCHES = 50
GRID = {
    "tau": TAUS,
    "body": (0.0, 0.1, 0.2, 0.4),
    "lexical": (0.0, 0.05, 0.1, 0.2),
    "own_language": (0.6, 0.8, 1.0),
}


@dataclass
class _Search:
    comps: dict[str, Components]
    family: str | None  # the right family; None when no article answers it
    language: str
    rankable: bool  # its article still has another phrasing: it measures the ranking


def tune(
    retriever: Retriever,
    negatives: list[tuple[str, str, dict[str, np.ndarray]]],
    *,
    answer_precision: float,
    clarify_precision: float,
    max_searches: int = 1500,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit and store `index.tuning`; `negatives` are (text, language, view -> vector) of
    questions no article should answer. Returns a summary for `kb index`."""
    started = time.perf_counter()
    idx = retriever.index
    idx.tuning = {"cross_lingual_offset": cross_lingual_gap(idx)}
    rng = random.Random(seed)
    phrasings = [i for i, c in enumerate(idx.chunks) if c.kind in ("title", "question")]
    if len(phrasings) > max_searches:
        phrasings = sorted(rng.sample(phrasings, max_searches))
    searches: list[_Search] = []
    for i in phrasings:
        chunk = idx.chunks[i]
        article = idx.articles[chunk.article_id]
        family = idx.family[article.id]
        hidden = retriever.text_rows(chunk.text)
        left = [
            r
            for a in idx.members[family].values()
            for r in idx.rows_of.get(a.id, ())
            if int(r) not in hidden
        ]
        comps = retriever.components(_own_vectors(idx, i), idx.terms[i], article.language, hidden)
        other = any(idx.chunks[int(r)].kind != "body" for r in left)
        searches.append(_Search(comps, family if left else None, article.language, other))
    # The article itself hidden: a question this base has no answer for.
    for i in rng.sample(phrasings, min(len(phrasings), max_searches // 4)):
        article = idx.articles[idx.chunks[i].article_id]
        family = idx.family[article.id]
        hidden = {int(r) for a in idx.members[family].values() for r in idx.rows_of.get(a.id, ())}
        comps = retriever.components(_own_vectors(idx, i), idx.terms[i], article.language, hidden)
        searches.append(_Search(comps, None, article.language, False))
    for text, language, vectors in negatives:
        usable = {n: v for n, v in vectors.items() if n in (MAIN, language)}
        comps = retriever.components(usable, retriever.terms_of(text), language, set())
        searches.append(_Search(comps, None, language, False))

    rankable = [s for s in searches if s.rankable and s.family is not None]
    weights = FusionWeights()
    grid_recall = None
    if len(rankable) >= MIN_GRID_SEARCHES:
        weights, grid_recall = _best_weights(idx, rankable)
    idx.tuning["weights"] = weights.to_dict()

    examples = []
    for s in searches:
        ranked = retriever.rank(s.comps, weights, s.language)
        if not ranked:
            continue
        fams = [idx.family[h.article.id] for h in ranked[:3]]
        x = features([h.score for h in ranked[:3]], ranked[0].lexical)
        examples.append(
            Example(
                x,
                s.family is not None and fams[0] == s.family,
                s.family is not None and s.family in fams,
                s.family is not None,
            )
        )
    decision = fit_decision(examples, answer_precision, clarify_precision)
    idx.tuning["decision"] = decision.to_dict()
    summary = {
        "searches": len(searches),
        "ranking_searches": len(rankable),
        "weights": weights.to_dict(),
        "weights_fitted": grid_recall is not None,
        "loo_recall_at_1": grid_recall,
        "decision": decision.method,
        "answer_threshold": round(decision.answer_threshold, 4),
        "seconds": round(time.perf_counter() - started, 2),
        **decision.summary,
    }
    idx.tuning["summary"] = summary
    return summary


def _own_vectors(idx: KnowledgeIndex, row: int) -> dict[str, np.ndarray]:
    """A chunk's own vectors in every view that holds it: searched as if a customer asked it."""
    return {
        name: view.vectors[view.position[row]]
        for name, view in idx.views.items()
        if row in view.position
    }


def _best_weights(idx: KnowledgeIndex, searches: list[_Search]) -> tuple[FusionWeights, float]:
    """The grid point with the best recall@1 (ties: the one nearest the defaults)."""
    arrays: list[dict[str, Any]] = []
    for s in searches:
        ids = list(s.comps)
        c = [s.comps[a] for a in ids]
        own = [next((n for n in x.match if n != MAIN), None) for x in c]
        arrays.append(
            {
                "right": np.array([idx.family[a] == s.family for a in ids]),
                "main": {t: np.array([x.match[MAIN][t] for x in c]) for t in TAUS},
                "main_body": np.array([x.body[MAIN] for x in c]),
                "own": {
                    t: np.array([x.match[o][t] if o else 0.0 for x, o in zip(c, own, strict=True)])
                    for t in TAUS
                },
                "own_body": np.array(
                    [x.body[o] if o else 0.0 for x, o in zip(c, own, strict=True)]
                ),
                "has_own": np.array([o is not None for o in own]),
                "offset": np.array([x.offset for x in c]),
                "lexical": np.array([x.lexical for x in c]),
            }
        )
    default = FusionWeights()
    best: tuple[float, float, FusionWeights] | None = None
    for tau, body, lexical, own_w in itertools.product(*GRID.values()):
        hits = 0
        for a in arrays:
            main = a["main"][tau] + body * a["main_body"]
            mixed = (1 - own_w) * main + own_w * (a["own"][tau] + body * a["own_body"])
            score = np.where(a["has_own"], mixed, main + a["offset"]) + lexical * a["lexical"]
            right = a["right"]
            if right.any() and (not (~right).any() or score[right].max() > score[~right].max()):
                hits += 1
        w = FusionWeights(tau, body, lexical, own_w)
        distance = sum(
            abs(getattr(w, k) - getattr(default, k))
            for k in ("tau", "body", "lexical", "own_language")
        )
        recall = hits / len(arrays)
        if best is None or (recall, -distance) > (best[0], -best[1]):
            best = (recall, distance, w)
    assert best is not None
    return best[2], round(best[0], 4)


def cross_lingual_gap(idx: KnowledgeIndex) -> float:
    """How much lower a question's main-view similarity to its own article is in the other
    language: the mean, over bilingual articles' questions, of the best same-language minus
    the best other-language centred cosine (the question's own chunk left out)."""
    view = idx.main
    gaps = []
    for i, c in enumerate(idx.chunks):
        if c.kind != "question" or i not in view.position:
            continue
        article = idx.articles[c.article_id]
        members = idx.members[idx.family[article.id]]
        other = next((a for lang, a in members.items() if lang != article.language), None)
        if other is None:
            continue
        same = [view.position[int(r)] for r in idx.rows_of[article.id] if int(r) != i]
        others = [view.position[int(r)] for r in idx.rows_of.get(other.id, ())]
        if not same or not others:
            continue
        q, q_mean, q_norm = view.query_parts(view.vectors[view.position[i]])
        s = view.centred_cosines(np.array(same), q, q_mean, q_norm).max()
        o = view.centred_cosines(np.array(others), q, q_mean, q_norm).max()
        gaps.append(float(s - o))
    return max(0.0, float(np.mean(gaps))) if gaps else 0.0
