"""One embedding model's view of the chunks: its vectors, its faiss index, and the centre used to
score them.

Sentence encoders put every text in a narrow cone, so a few "hub" chunks sit close to everything.
Scoring by the cosine of vectors with the base's mean removed spreads the cone out: on the dev
splits of StackFAQ and BANKING77 it moved recall@1 up by 0.5 to 1 point for every model
(docs/knowledge.md). The raw unit vectors stay stored, so a rebuild can reuse them, and the
centred cosine is computed from them with two precomputed numbers per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.knowledge.dense import DenseIndex

# Below this many vectors the mean is mostly the few articles themselves: no centring.
MIN_ROWS_TO_CENTRE = 50


@dataclass
class View:
    """`rows[i]` is the chunk whose raw unit vector is `vectors[i]`."""

    name: str  # "main" (every chunk) or the language whose chunks it covers
    embedder_name: str
    rows: np.ndarray  # int64 chunk indices, ascending
    vectors: np.ndarray  # float32 (len(rows), dim), unit length
    dense: DenseIndex

    def __post_init__(self) -> None:
        n = len(self.vectors)
        dim = self.vectors.shape[1] if self.vectors.ndim == 2 else 1
        self.mean = (
            self.vectors.mean(axis=0).astype(np.float32)
            if n >= MIN_ROWS_TO_CENTRE
            else np.zeros(dim, dtype=np.float32)
        )
        self._mean_sq = float(self.mean @ self.mean)
        self._row_mean = (self.vectors @ self.mean).astype(np.float32) if n else np.zeros(0)
        # |x - mean| for each row: sqrt(1 - 2 x.mean + mean.mean), x of unit length
        self._row_norm = np.sqrt(np.maximum(1.0 - 2 * self._row_mean + self._mean_sq, 1e-12))
        self.position = {int(r): i for i, r in enumerate(self.rows.tolist())}

    @property
    def size(self) -> int:
        return len(self.rows)

    def query_parts(self, q: np.ndarray) -> tuple[np.ndarray, float, float]:
        """What scoring needs of a query: its raw vector, q.mean and |q - mean|."""
        q = np.asarray(q, dtype=np.float32).reshape(-1)
        q_mean = float(q @ self.mean)
        q_norm = float(np.sqrt(max(float(q @ q) - 2 * q_mean + self._mean_sq, 1e-12)))
        return q, q_mean, q_norm

    def centred_cosines(
        self, positions: np.ndarray, q: np.ndarray, q_mean: float, q_norm: float
    ) -> np.ndarray:
        """Cosine of (x - mean) and (q - mean) for the view rows at `positions`."""
        raw = self.vectors[positions] @ q
        num = raw - self._row_mean[positions] - q_mean + self._mean_sq
        out: np.ndarray = num / (self._row_norm[positions] * q_norm)
        return out

    def centred(self) -> np.ndarray:
        """Every row with the mean removed, of unit length (what the classifier learns on)."""
        out: np.ndarray = (self.vectors - self.mean) / self._row_norm[:, None]
        return out

    def nearest(self, q: np.ndarray, k: int) -> np.ndarray:
        """Positions (into this view) of the `k` nearest raw vectors: the candidates."""
        ids, _ = self.dense.search(q, k)
        return ids
