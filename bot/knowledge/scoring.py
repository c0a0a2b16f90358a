"""How well each candidate article matches a question: the learned fusion of the views' centred
cosines and BM25.

For one view, an article's score is a soft maximum over its phrasings (title and questions; its
body chunks when it has none), so several phrasings close to the question count for more than
one, plus a share of its best body chunk. Where a language has its own model (English:
all-MiniLM-L6-v2) that view and the multilingual one are mixed; BM25, normalised by the
question's best, is added. The four weights are fitted per base at indexing (tuning.py) and
default to what the dev splits chose.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bot.knowledge.classifier import PhrasingClassifier
from bot.knowledge.index import MAIN, KnowledgeIndex


@dataclass(frozen=True)
class FusionWeights:
    tau: float = 0.05  # softness of the maximum over an article's phrasings
    body: float = 0.1  # weight of the best body chunk
    lexical: float = 0.05  # weight of BM25, normalised by the question's best article
    own_language: float = 1.0  # the language's own model against the multilingual one
    classifier: float = 0.05  # weight of the phrasing classifier's log-probability

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> FusionWeights:
        if not d:
            return cls()
        return cls(**{k: float(v) for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class Components:
    """Per candidate article, the parts of its score before weighting: for each view, the soft
    maximum over phrasings at each tau and the best body cosine; BM25; the chunk that matched."""

    match: dict[str, dict[float, float]]  # view -> tau -> soft maximum
    body: dict[str, float]  # view -> best body cosine (0 when none)
    lexical: float
    offset: float  # cross-lingual gap added to the main view's score
    chunk: str
    dense: float  # best centred cosine in any view, for display
    cls: dict[str, float]  # view -> the phrasing classifier's log-probability of the family


TAUS = (0.02, 0.05, 0.1)


def components(
    index: KnowledgeIndex,
    article_ids: set[str],
    queries: dict[str, tuple[np.ndarray, float, float]],
    lexical: dict[str, float],
    language: str,
    excluded_rows: set[int],
    cross_lingual_offset: float,
    classifiers: dict[str, PhrasingClassifier] | None = None,
    taus: tuple[float, ...] = TAUS,
) -> dict[str, Components]:
    """The unweighted parts of each article's score, all candidates at once. `queries` holds
    each active view's query parts (View.query_parts); `excluded_rows` are chunks hidden from
    this search."""
    ids = sorted(article_ids)
    if not ids:
        return {}
    parts = [index.rows_of.get(a, np.zeros(0, dtype=np.int64)) for a in ids]
    rows = np.concatenate(parts)
    seg = np.repeat(np.arange(len(ids)), [len(p) for p in parts])
    if excluded_rows:
        keep = ~np.isin(rows, np.fromiter(excluded_rows, dtype=np.int64))
        rows, seg = rows[keep], seg[keep]
    n = len(ids)
    body = index.is_body[rows]
    # Phrasings where the article has any left; otherwise its body stands in for them.
    has_phrase = np.zeros(n, dtype=bool)
    has_phrase[seg[~body]] = True
    matchable = ~body | ~has_phrase[seg]
    match: dict[str, dict[float, np.ndarray]] = {}
    body_best: dict[str, np.ndarray] = {}
    covered: dict[str, np.ndarray] = {}
    best_cos = np.full(n, -np.inf)
    best_row = np.full(n, -1, dtype=np.int64)
    for name, (q, q_mean, q_norm) in queries.items():
        view = index.views[name]
        pos = index.view_pos[name][rows]
        inside = pos >= 0
        if not inside.any():
            continue
        r, sg, b, m = rows[inside], seg[inside], body[inside], matchable[inside]
        cos = view.centred_cosines(pos[inside], q, q_mean, q_norm).astype(np.float64)
        top = np.full(n, -np.inf)
        np.maximum.at(top, sg[m], cos[m])
        match[name] = {}
        for t in taus:
            acc = np.zeros(n)
            np.add.at(acc, sg[m], np.exp((cos[m] - top[sg[m]]) / t))
            with np.errstate(divide="ignore"):
                match[name][t] = top + t * np.log(acc)
        bb = np.zeros(n)
        np.maximum.at(bb, sg[b], np.maximum(cos[b], 0.0))
        body_best[name] = bb
        cov = np.zeros(n, dtype=bool)
        cov[sg[m]] = True
        covered[name] = cov
        order = np.lexsort((-cos, sg))
        first = order[np.r_[True, sg[order][1:] != sg[order][:-1]]]
        better = cos[first] > best_cos[sg[first]]
        best_cos[sg[first][better]] = cos[first][better]
        best_row[sg[first][better]] = r[first][better]
    log_proba: dict[str, tuple[PhrasingClassifier, np.ndarray]] = {}
    for name, clf in (classifiers or {}).items():
        if name in queries:
            q, q_mean, q_norm = queries[name]
            centred = (q - index.views[name].mean) / q_norm
            log_proba[name] = (clf, clf.log_proba(centred))
    best_lex = max(lexical.values(), default=0.0)
    out: dict[str, Components] = {}
    for i, art_id in enumerate(ids):
        views = [name for name in match if covered[name][i]]
        if not views or best_row[i] < 0:
            continue
        family = index.family[art_id]
        members = index.members[family]
        cls = {
            name: float(lp[clf.index[family]]) if family in clf.index else float(lp.min())
            for name, (clf, lp) in log_proba.items()
            if name in views
        }
        out[art_id] = Components(
            {name: {t: float(match[name][t][i]) for t in taus} for name in views},
            {name: float(body_best[name][i]) for name in views},
            lexical.get(art_id, 0.0) / best_lex if best_lex > 0 else 0.0,
            cross_lingual_offset if language not in members else 0.0,
            index.chunks[int(best_row[i])].text,
            float(best_cos[i]),
            cls,
        )
    return out


def detail(top: Components, second: Components | None, w: FusionWeights) -> tuple[float, ...]:
    """What the top article's fused score hides, for the answer decision (decision.FEATURES):
    per view (the multilingual one, then the language's own, 0 where absent) the phrasing
    classifier's log-probability of the top family and its margin over the second family's, and
    each view's dense margin. A wrong top article often wins on one part while losing on another;
    the sum alone cannot show it."""
    tau = min(TAUS, key=lambda t: abs(t - w.tau))
    own = next((v for v in top.match if v != MAIN), None)

    def cls(view: str | None) -> tuple[float, float]:
        a = top.cls.get(view) if view is not None else None
        if a is None or view is None:
            return 0.0, 0.0
        b = second.cls.get(view) if second else None
        return a, (a - b) if b is not None else 0.0

    def dense(view: str | None) -> float:
        a = top.match.get(view, {}).get(tau) if view else None
        b = second.match.get(view, {}).get(tau) if second and view else None
        return a - b if a is not None and b is not None else 0.0

    return (*cls(MAIN), *cls(own), dense(own), dense(MAIN))


def fuse(c: Components, w: FusionWeights) -> float:
    """One article's score under the weights `w`."""
    tau = min(TAUS, key=lambda t: abs(t - w.tau))
    parts = {
        name: c.match[name][tau] + w.body * c.body[name] + w.classifier * c.cls.get(name, 0.0)
        for name in c.match
    }
    main = parts.get(MAIN)
    own = [v for name, v in parts.items() if name != MAIN]
    if own and main is not None:
        dense = (1 - w.own_language) * main + w.own_language * own[0]
    elif own:
        dense = own[0]
    else:
        dense = (main or 0.0) + c.offset
    return dense + w.lexical * c.lexical
