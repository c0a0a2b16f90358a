"""The knowledge index: chunks of the published articles, their vectors in faiss, BM25 postings,
and a manifest of article ids, versions and content hashes so rebuilding re-embeds only what
changed.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from bot.knowledge.article import Article, Media
from bot.knowledge.chunks import Chunk, article_chunks
from bot.knowledge.dense import DenseIndex
from bot.knowledge.lexical import BM25Index
from bot.nlu.embedders import Embedder

log = logging.getLogger(__name__)
INDEX_FORMAT = 1


@dataclass(frozen=True)
class IndexSettings:
    exact_max_chunks: int = 20_000
    ann: str = "ivf"
    nprobe: int = 64
    hnsw_m: int = 32
    ef_search: int = 64


@dataclass
class BuildStats:
    embedded_articles: list[str] = field(default_factory=list)
    reused_articles: int = 0
    removed_articles: list[str] = field(default_factory=list)
    embedded_chunks: int = 0
    seconds: float = 0.0


def new_dense(dim: int, settings: IndexSettings) -> DenseIndex:
    return DenseIndex(
        dim,
        exact_max=settings.exact_max_chunks,
        ann=settings.ann,
        nprobe=settings.nprobe,
        hnsw_m=settings.hnsw_m,
        ef_search=settings.ef_search,
    )


class KnowledgeIndex:
    """Searchable state for one set of published articles; immutable once built."""

    def __init__(
        self,
        articles: dict[str, Article],
        chunks: list[Chunk],
        vectors: np.ndarray,
        embedder_name: str,
        settings: IndexSettings,
        terms: list[list[str]],
        dense: DenseIndex | None = None,
    ) -> None:
        self.articles = articles
        self.chunks = chunks
        self.vectors = vectors
        self.embedder_name = embedder_name
        self.settings = settings
        self.terms = terms
        if dense is None:
            dense = new_dense(vectors.shape[1] if vectors.ndim == 2 else 1, settings)
            dense.build(vectors)
        self.dense = dense
        self.lexical = BM25Index()
        self.lexical.build(terms)
        self.calibration: dict[str, Any] | None = None
        # Translation families: every article maps to the id of its original.
        self.family = {a.id: a.translation_of or a.id for a in articles.values()}
        self.members: dict[str, dict[str, Article]] = {}
        for a in articles.values():
            self.members.setdefault(self.family[a.id], {})[a.language] = a

    @classmethod
    def build(
        cls,
        articles: list[Article],
        embedder: Embedder,
        terms_of: Any,
        settings: IndexSettings,
        previous: KnowledgeIndex | None = None,
    ) -> tuple[KnowledgeIndex, BuildStats]:
        """Index the published articles; vectors of unchanged articles come from `previous`."""
        started = time.perf_counter()
        stats = BuildStats()
        published = {a.id: a for a in articles if a.status == "published"}
        reuse: dict[str, tuple[list[Chunk], np.ndarray, list[list[str]]]] = {}
        if previous is not None and previous.embedder_name == embedder.name:
            rows: dict[str, list[int]] = {}
            for i, c in enumerate(previous.chunks):
                rows.setdefault(c.article_id, []).append(i)
            for art_id, old in previous.articles.items():
                new = published.get(art_id)
                if new is None:
                    stats.removed_articles.append(art_id)
                elif (new.version, new.content_hash) == (old.version, old.content_hash):
                    idx = rows.get(art_id, [])
                    reuse[art_id] = (
                        [previous.chunks[i] for i in idx],
                        previous.vectors[idx],
                        [previous.terms[i] for i in idx],
                    )
        chunks: list[Chunk] = []
        parts: list[np.ndarray] = []
        terms: list[list[str]] = []
        to_embed: list[Chunk] = []
        for art_id in sorted(published):
            if art_id in reuse:
                kept_chunks, kept_vectors, kept_terms = reuse[art_id]
                chunks += kept_chunks
                parts.append(kept_vectors)
                terms += kept_terms
                stats.reused_articles += 1
            else:
                to_embed += article_chunks(published[art_id])
                stats.embedded_articles.append(art_id)
        if to_embed:
            parts.append(embedder.embed([c.text for c in to_embed], kind="passage"))
            chunks += to_embed
            terms += [terms_of(c.text) for c in to_embed]
            stats.embedded_chunks = len(to_embed)
        vectors = (
            np.concatenate(parts).astype(np.float32)
            if parts
            else np.zeros((0, embedder.dim), dtype=np.float32)
        )
        index = cls(published, chunks, vectors, embedder.name, settings, terms)
        stats.seconds = time.perf_counter() - started
        return index, stats

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        tmp = directory.with_name(f".tmp-{directory.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "vectors.npy", self.vectors)
        self.dense.save(tmp / "dense.faiss")
        (tmp / "chunks.json").write_text(
            json.dumps(
                [
                    [c.article_id, c.kind, c.text, t]
                    for c, t in zip(self.chunks, self.terms, strict=True)
                ],
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        manifest = {
            "format": INDEX_FORMAT,
            "embedder": self.embedder_name,
            "dense_kind": self.dense.kind,
            "calibration": self.calibration,
            "articles": {
                a.id: a.to_dict() | {"hash": a.content_hash, "path": a.path}
                for a in self.articles.values()
            },
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        old = directory.with_name(f".old-{directory.name}")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path, settings: IndexSettings) -> KnowledgeIndex | None:
        """The saved index, or None when there is none or it is of another format."""
        manifest_file = directory / "manifest.json"
        if not manifest_file.is_file():
            return None
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        if manifest.get("format") != INDEX_FORMAT:
            return None
        articles = {}
        for art_id, d in manifest["articles"].items():
            articles[art_id] = Article(
                id=art_id,
                title=d["title"],
                category=d["category"],
                language=d["language"],
                body=d["body"],
                version=int(d["version"]),
                updated=date.fromisoformat(d["updated"]),
                status=d["status"],
                translation_of=d["translation_of"],
                questions=tuple(d["questions"]),
                tags=tuple(d["tags"]),
                media=tuple(Media(**m) for m in d["media"]),
                more=d["more"],
                path=d.get("path", ""),
            )
        raw_chunks = json.loads((directory / "chunks.json").read_text(encoding="utf-8"))
        chunks = [Chunk(a, k, t) for a, k, t, _ in raw_chunks]
        terms = [list(x[3]) for x in raw_chunks]
        vectors = np.load(directory / "vectors.npy", allow_pickle=False)
        dense = new_dense(vectors.shape[1], settings)
        if (directory / "dense.faiss").is_file():
            dense.load(directory / "dense.faiss", manifest["dense_kind"])
        else:
            dense.build(vectors)
        index = cls(articles, chunks, vectors, manifest["embedder"], settings, terms, dense)
        index.calibration = manifest.get("calibration")
        return index
