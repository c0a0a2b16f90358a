"""A classifier over a base's own phrasings: which article family a question belongs to.

Where articles have several phrasings, a linear model trained on all of them at indexing
separates near-duplicate articles better than the nearest phrasing does: on BANKING77 used as
an FAQ (5 phrasings an article) its log-probability, added to the dense score, raised dev
recall@1 from 0.786 to 0.825 (docs/knowledge.md). It is trained per view on the centred vectors,
and only where it can help and stays cheap: at least two chunks an article on average, and
rows x families x dimensions within MAX_COST.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIN_ROWS_PER_FAMILY = 2.0
MAX_COST = 2e8  # rows x families x dimensions: keeps a fit to a few seconds on one core
FOLDS = 5
# Chosen on BANKING77's dev questions (docs/knowledge.md).
STEPS, LEARNING_RATE, MOMENTUM, L2 = 100, 5.0, 0.9, 1e-4


@dataclass
class PhrasingClassifier:
    weights: np.ndarray  # (families, dim)
    bias: np.ndarray  # (families,)
    families: list[str]

    def __post_init__(self) -> None:
        self.index = {f: i for i, f in enumerate(self.families)}

    def log_proba(self, q: np.ndarray) -> np.ndarray:
        z = self.weights @ q + self.bias
        z = z - z.max()
        out: np.ndarray = z - np.log(np.exp(z).sum())
        return out

    @classmethod
    def fit(cls, x: np.ndarray, labels: list[str]) -> PhrasingClassifier | None:
        """Softmax regression by full-batch gradient descent with momentum: a fixed number of
        steps, so it costs the same every time (about 0.1 s for BANKING77's 539 chunks, where
        scikit-learn's solver took seconds) and gives the same weights for the same data.
        None when fewer than two families have examples."""
        families = sorted(set(labels))
        if len(families) < 2:
            return None
        column = {f: i for i, f in enumerate(families)}
        y = np.array([column[lb] for lb in labels])
        x = np.asarray(x, dtype=np.float32)
        n, dim = x.shape
        target = np.zeros((n, len(families)), dtype=np.float32)
        target[np.arange(n), y] = 1.0
        weights = np.zeros((dim, len(families)), dtype=np.float32)
        bias = np.zeros(len(families), dtype=np.float32)
        step_w, step_b = np.zeros_like(weights), np.zeros_like(bias)
        for _ in range(STEPS):
            z = x @ weights + bias
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - target) / n
            step_w = MOMENTUM * step_w + x.T @ g + L2 * weights
            step_b = MOMENTUM * step_b + g.sum(axis=0)
            weights -= LEARNING_RATE * step_w
            bias -= LEARNING_RATE * step_b
        return cls(np.ascontiguousarray(weights.T), bias, families)

    def save(self, path: Path) -> None:
        np.savez(path, weights=self.weights, bias=self.bias, families=np.array(self.families))

    @classmethod
    def load(cls, path: Path) -> PhrasingClassifier:
        data = np.load(path, allow_pickle=False)
        return cls(data["weights"], data["bias"], [str(f) for f in data["families"]])


def worth_training(rows: int, families: int, dim: int) -> bool:
    return (
        families >= 2
        and rows / families >= MIN_ROWS_PER_FAMILY
        and rows * families * dim <= MAX_COST
    )
