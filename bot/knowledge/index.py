"""The knowledge index: chunks of the published articles, their vectors in one or more views (one
per embedding model, see views.py), BM25 postings, and a manifest of article ids, versions and
content hashes so rebuilding re-embeds only what changed.
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
from bot.knowledge.classifier import PhrasingClassifier
from bot.knowledge.dense import DenseIndex
from bot.knowledge.lexical import BM25Index
from bot.knowledge.views import View
from bot.nlu.embedders import Embedder

log = logging.getLogger(__name__)
INDEX_FORMAT = 2
MAIN = "main"  # the view of every chunk, by the multilingual embedder


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
    """Searchable state for one set of published articles; immutable once built, except for the
    fitted `tuning` (fusion weights and answer decision) that indexing adds."""

    def __init__(
        self,
        articles: dict[str, Article],
        chunks: list[Chunk],
        views: dict[str, View],
        settings: IndexSettings,
        terms: list[list[str]],
    ) -> None:
        self.articles = articles
        self.chunks = chunks
        self.views = views
        self.settings = settings
        self.terms = terms
        self.lexical = BM25Index()
        self.lexical.build(terms)
        self.tuning: dict[str, Any] | None = None
        self.classifiers: dict[str, PhrasingClassifier] = {}  # per view, fitted by tuning
        self.rows_of: dict[str, np.ndarray] = {}
        by_article: dict[str, list[int]] = {}
        for i, c in enumerate(chunks):
            by_article.setdefault(c.article_id, []).append(i)
        self.rows_of = {a: np.array(r, dtype=np.int64) for a, r in by_article.items()}
        # Vectorised look-ups for scoring: a chunk's position in each view (-1: not in it),
        # whether it is body text.
        self.view_pos: dict[str, np.ndarray] = {}
        for name, view in views.items():
            pos = np.full(len(chunks), -1, dtype=np.int64)
            pos[view.rows] = np.arange(len(view.rows))
            self.view_pos[name] = pos
        self.is_body = np.array([c.kind == "body" for c in chunks], dtype=bool)
        # Translation families: every article maps to the id of its original.
        self.family = {a.id: a.translation_of or a.id for a in articles.values()}
        self.members: dict[str, dict[str, Article]] = {}
        for a in articles.values():
            self.members.setdefault(self.family[a.id], {})[a.language] = a

    @property
    def main(self) -> View:
        return self.views[MAIN]

    @property
    def embedder_names(self) -> dict[str, str]:
        return {name: v.embedder_name for name, v in self.views.items()}

    @staticmethod
    def covers(view: str, language: str) -> bool:
        return view in (MAIN, language)

    @classmethod
    def build(
        cls,
        articles: list[Article],
        embedders: dict[str, Embedder],
        terms_of: Any,
        settings: IndexSettings,
        previous: KnowledgeIndex | None = None,
    ) -> tuple[KnowledgeIndex, BuildStats]:
        """Index the published articles; `embedders` maps each view ("main", and a language
        for a language's own model) to its embedder. Vectors of unchanged articles come from
        `previous` wherever it used the same embedder for that view."""
        started = time.perf_counter()
        stats = BuildStats()
        published = {a.id: a for a in articles if a.status == "published"}
        unchanged: set[str] = set()
        if previous is not None:
            for art_id, old in previous.articles.items():
                new = published.get(art_id)
                if new is None:
                    stats.removed_articles.append(art_id)
                elif (new.version, new.content_hash) == (old.version, old.content_hash):
                    unchanged.add(art_id)
        chunks: list[Chunk] = []
        terms: list[list[str]] = []
        for art_id in sorted(published):
            if art_id in unchanged and previous is not None:
                rows = previous.rows_of.get(art_id, np.zeros(0, dtype=np.int64))
                chunks += [previous.chunks[i] for i in rows]
                terms += [previous.terms[i] for i in rows]
            else:
                new_chunks = article_chunks(published[art_id])
                chunks += new_chunks
                terms += [terms_of(c.text) for c in new_chunks]
        embedded: set[str] = set()
        views: dict[str, View] = {}
        for name, embedder in embedders.items():
            covered = [
                i
                for i, c in enumerate(chunks)
                if cls.covers(name, published[c.article_id].language)
            ]
            old_view = previous.views.get(name) if previous is not None else None
            reusable = old_view is not None and old_view.embedder_name == embedder.name
            vectors = np.zeros((len(covered), embedder.dim), dtype=np.float32)
            to_embed: list[int] = []  # positions in `rows`
            # The n-th chunk of an unchanged article is the n-th chunk it had before.
            seen: dict[str, int] = {}
            for pos, i in enumerate(covered):
                art_id = chunks[i].article_id
                nth = seen.get(art_id, 0)
                seen[art_id] = nth + 1
                if reusable and art_id in unchanged and old_view and previous is not None:
                    prev_row = int(previous.rows_of[art_id][nth])
                    vectors[pos] = old_view.vectors[old_view.position[prev_row]]
                else:
                    to_embed.append(pos)
            if to_embed:
                texts = [chunks[covered[p]].text for p in to_embed]
                vectors[to_embed] = embedder.embed(texts, kind="passage")
                embedded |= {chunks[covered[p]].article_id for p in to_embed}
                stats.embedded_chunks += len(to_embed)
            views[name] = make_view(
                name, embedder.name, np.array(covered, dtype=np.int64), vectors, settings
            )
        stats.embedded_articles = sorted(embedded | (set(published) - unchanged))
        stats.reused_articles = len(set(published) - set(stats.embedded_articles))
        index = cls(published, chunks, views, settings, terms)
        stats.seconds = time.perf_counter() - started
        return index, stats

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        tmp = directory.with_name(f".tmp-{directory.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name, view in self.views.items():
            np.save(tmp / f"vectors-{name}.npy", view.vectors)
            np.save(tmp / f"rows-{name}.npy", view.rows)
            view.dense.save(tmp / f"dense-{name}.faiss")
        for name, classifier in self.classifiers.items():
            classifier.save(tmp / f"classifier-{name}.npz")
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
            "views": {
                name: {"embedder": v.embedder_name, "dense_kind": v.dense.kind}
                for name, v in self.views.items()
            },
            "tuning": self.tuning,
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
        views = {}
        for name, meta in manifest["views"].items():
            vectors = np.load(directory / f"vectors-{name}.npy", allow_pickle=False)
            rows = np.load(directory / f"rows-{name}.npy", allow_pickle=False)
            dense = new_dense(vectors.shape[1], settings)
            faiss_file = directory / f"dense-{name}.faiss"
            if faiss_file.is_file():
                dense.load(faiss_file, meta["dense_kind"])
            else:
                dense.build(vectors)
            views[name] = View(name, meta["embedder"], rows, vectors, dense)
        index = cls(articles, chunks, views, settings, terms)
        index.tuning = manifest.get("tuning")
        for name in views:
            path = directory / f"classifier-{name}.npz"
            if path.is_file():
                index.classifiers[name] = PhrasingClassifier.load(path)
        return index


def make_view(
    name: str, embedder_name: str, rows: np.ndarray, vectors: np.ndarray, settings: IndexSettings
) -> View:
    dense = new_dense(vectors.shape[1] if vectors.ndim == 2 else 1, settings)
    dense.build(vectors)
    return View(name, embedder_name, rows, vectors.astype(np.float32), dense)
