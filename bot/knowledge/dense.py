"""The vector side of the index: faiss, exact inner product for small bases, IVF or HNSW above.

Vectors are L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


class DenseIndex:
    def __init__(
        self,
        dim: int,
        exact_max: int = 20_000,
        ann: str = "ivf",
        nprobe: int = 64,
        hnsw_m: int = 32,
        ef_search: int = 64,
        threads: int = 1,
    ) -> None:
        import faiss

        faiss.omp_set_num_threads(threads)  # single queries: threads cost more than they save
        self.dim = dim
        self.exact_max = exact_max
        self.ann = ann
        self.nprobe = nprobe
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.kind = "empty"
        self._index: Any = None

    def build(self, vectors: np.ndarray, seed: int = 0) -> None:
        import faiss

        x = np.ascontiguousarray(vectors, dtype=np.float32)
        n = len(x)
        index: Any
        if n <= self.exact_max:
            index = faiss.IndexFlatIP(self.dim)
            self.kind = "flat"
        elif self.ann == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = self.ef_search
            self.kind = "hnsw"
        else:
            nlist = max(16, min(65_536, int(4 * math.sqrt(n))))
            quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(seed)
            sample = x[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
            index.train(sample)
            index.nprobe = self.nprobe
            self.kind = "ivf"
        if n:
            index.add(x)
        self._index = index

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and cosine scores of the `k` nearest vectors (fewer if the index is smaller)."""
        if self._index is None or self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        scores, ids = self._index.search(q, min(k, self.size))
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    @property
    def size(self) -> int:
        return int(self._index.ntotal) if self._index is not None else 0

    def save(self, path: Path) -> None:
        import faiss

        if self._index is not None:
            faiss.write_index(self._index, str(path))

    def load(self, path: Path, kind: str) -> None:
        import faiss

        self._index = faiss.read_index(str(path))
        self.kind = kind
        if kind == "ivf":
            self._index.nprobe = self.nprobe
        elif kind == "hnsw":
            self._index.hnsw.efSearch = self.ef_search
