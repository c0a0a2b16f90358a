"""The knowledge base as one service: load articles, keep their history, index, search, and move
drafts through review to publication.

Files under knowledge/ are the source of truth; the index under var/ is derived from them and
rebuilt incrementally whenever they differ from its manifest.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Config
from bot.errors import DataProblem, RelaydeskError
from bot.knowledge.article import Article
from bot.knowledge.history import History, VersionConflict, VersionRecord
from bot.knowledge.index import MAIN, BuildStats, IndexSettings, KnowledgeIndex
from bot.knowledge.lexical import lexical_terms, stop_words
from bot.knowledge.loader import LoadResult, load_base
from bot.knowledge.retriever import RetrievalSettings, Retriever, SearchResult
from bot.knowledge.tuning import tune
from bot.knowledge.writer import render, write
from bot.nlu.embedders import Embedder, create_embedder, shared_embedder
from bot.nlu.language import detect
from bot.nlu.tokenizer import SpacyTokenizer
from bot.pipeline_config.params import LanguageDetectorParams, SpacyTokenizerParams

log = logging.getLogger(__name__)


class KnowledgeError(RelaydeskError):
    """A knowledge-base operation cannot be done (unknown article, wrong status, ...)."""


@dataclass
class IndexReport:
    articles: int
    chunks: int
    stats: BuildStats
    problems: list[DataProblem] = field(default_factory=list)
    warnings: list[DataProblem] = field(default_factory=list)
    tuning: dict[str, Any] | None = None
    dense_kind: str = ""


class KnowledgeBase:
    def __init__(
        self,
        config: Config,
        embedder: Embedder | None = None,
        tokenizer: SpacyTokenizer | None = None,
        root: Path | None = None,
        language_embedders: dict[str, Embedder] | None = None,
    ) -> None:
        k = config.knowledge
        self.config = config
        self.root = root or config.path(k.path)
        if root is None or root.resolve() == config.path(k.path).resolve():
            self.index_dir = config.path(k.index_path)
            history_db = config.path(k.history_db)
        else:  # another base (an imported FAQ, say) keeps its index beside its articles
            self.index_dir = root / ".relaydesk-index"
            history_db = root / ".relaydesk-history.db"
        self.history = History(history_db)
        self.embedder = embedder or create_embedder(k.embedder)
        if language_embedders is None:
            language_embedders = {
                lang: shared_embedder(params) for lang, params in k.language_embedders.items()
            }
        self.embedders: dict[str, Embedder] = {MAIN: self.embedder, **language_embedders}
        self.tokenizer = tokenizer or SpacyTokenizer(SpacyTokenizerParams())
        self._stop = stop_words()
        self._lang_params = LanguageDetectorParams()
        self.index_settings = IndexSettings(
            exact_max_chunks=k.exact_max_chunks,
            ann=k.ann,
            nprobe=k.nprobe,
            hnsw_m=k.hnsw_m,
            ef_search=k.ef_search,
        )
        self.retrieval_settings = RetrievalSettings(
            dense_candidates=k.dense_candidates,
            lexical_candidates=k.lexical_candidates,
            category_boost=k.category_boost,
            answer_precision=k.answer_precision,
            clarify_precision=k.clarify_precision,
            answer_threshold=k.answer_threshold,
            max_choices=k.max_choices,
            top_k=k.top_k,
            intent_categories={i: tuple(c) for i, c in k.intent_categories.items()},
        )
        self._retriever: Retriever | None = None
        self._negatives: list[tuple[str, str, dict[str, np.ndarray]]] | None = None
        self._lock = threading.Lock()  # one writer at a time: index rebuilds, publishing

    # -- helpers --------------------------------------------------------------------------
    def language_of(self, text: str) -> str:
        return detect(text, self._lang_params)

    def terms_of(self, text: str) -> list[str]:
        lang = self.language_of(text)
        return lexical_terms(
            self.tokenizer.tokenize(text, "en" if lang == "en" else "zh"), self._stop
        )

    def load_articles(self) -> LoadResult:
        return load_base(self.root)

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self.open()
        assert self._retriever is not None
        return self._retriever

    @property
    def index(self) -> KnowledgeIndex:
        return self.retriever.index

    # -- indexing -------------------------------------------------------------------------
    def open(self) -> IndexReport | None:
        """Use the saved index if it matches the files; otherwise bring it up to date."""
        loaded = load_base(self.root)
        saved = KnowledgeIndex.load(self.index_dir, self.index_settings)
        published = {
            a.id: (a.version, a.content_hash) for a in loaded.articles if a.status == "published"
        }
        if (
            saved is not None
            and saved.embedder_names == {n: e.name for n, e in self.embedders.items()}
            and saved.tuning is not None
            and {a.id: (a.version, a.content_hash) for a in saved.articles.values()} == published
        ):
            self._retriever = self._make_retriever(saved)
            return None
        return self.reindex(loaded=loaded, previous=saved)

    def reindex(
        self,
        *,
        loaded: LoadResult | None = None,
        previous: KnowledgeIndex | None = None,
        full: bool = False,
    ) -> IndexReport:
        with self._lock:
            loaded = loaded or load_base(self.root)
            problems = list(loaded.problems)
            articles = []
            for a in loaded.articles:
                if a.status == "published":
                    try:
                        self.history.record(a, note="indexed")
                    except VersionConflict as exc:
                        problems.append(DataProblem(a.path, 6, str(exc)))
                        continue
                articles.append(a)
            if previous is None and not full:
                previous = KnowledgeIndex.load(self.index_dir, self.index_settings)
            index, stats = KnowledgeIndex.build(
                articles,
                self.embedders,
                self.terms_of,
                self.index_settings,
                previous=None if full else previous,
            )
            retriever = self._make_retriever(index)
            tuning = self._tune(retriever)
            index.save(self.index_dir)
            self._retriever = retriever
            log.info(
                "knowledge index: %d articles (%d embedded, %d reused), %d chunks, %.2f s",
                len(index.articles),
                len(stats.embedded_articles),
                stats.reused_articles,
                len(index.chunks),
                stats.seconds,
            )
            return IndexReport(
                len(index.articles),
                len(index.chunks),
                stats,
                problems,
                loaded.warnings,
                tuning,
                index.main.dense.kind,
            )

    def _make_retriever(self, index: KnowledgeIndex) -> Retriever:
        return Retriever(
            index, self.embedders, self.terms_of, self.language_of, self.retrieval_settings
        )

    def _negative_texts(self) -> list[str]:
        k = self.config.knowledge
        if not k.calibration_negatives:
            return []
        from bot.errors import TrainingDataError
        from bot.nlu import rasa_format

        path = self.config.path(k.calibration_negatives)
        if not path.exists():
            return []
        try:
            data = rasa_format.load(path)
        except TrainingDataError as exc:
            log.warning("calibration negatives unreadable: %s", exc)
            return []
        wanted = set(k.negative_intents)
        return [e.text for e in data.examples if e.intent in wanted]

    def _tune(self, retriever: Retriever) -> dict[str, Any]:
        if self._negatives is None:  # embedded once per process, not on every publish
            texts = self._negative_texts()
            languages = ["zh" if (g := self.language_of(t)) == "mixed" else g for t in texts]
            per_view: dict[str, dict[int, np.ndarray]] = {}
            for name, embedder in self.embedders.items():
                rows = [i for i, g in enumerate(languages) if name in (MAIN, g)]
                vectors = embedder.embed([texts[i] for i in rows])
                per_view[name] = dict(zip(rows, vectors, strict=True))
            self._negatives = [
                (text, languages[i], {n: v[i] for n, v in per_view.items() if i in v})
                for i, text in enumerate(texts)
            ]
        k = self.config.knowledge
        return tune(
            retriever,
            self._negatives,
            answer_precision=k.answer_precision,
            clarify_precision=k.clarify_precision,
            max_searches=k.tuning_searches,
        )

    def answer_decision(self) -> dict[str, Any]:
        """How the served index decides to answer: its method (fitted | negatives | rule), the
        target precision and the threshold, for /ready and operators."""
        d = self.retriever.decision
        fallback = d.method != "fitted"
        return {
            "decision": d.method,
            "answer_precision": d.answer_precision,
            "answer_threshold": round(d.answer_threshold, 4),
            "fallback": fallback,
        }

    # -- search ---------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        language: str | None = None,
        intent: str | None = None,
        k: int | None = None,
        vector: np.ndarray | None = None,
    ) -> SearchResult:
        return self.retriever.search(query, language=language, intent=intent, k=k, vector=vector)

    # -- articles, drafts and publishing ---------------------------------------------------
    def article(self, article_id: str) -> Article:
        loaded = load_base(self.root)
        found = loaded.by_id().get(article_id)
        if found is None:
            raise KnowledgeError(f"no article {article_id!r} in {self.root}")
        return found

    def versions(self, article_id: str) -> list[VersionRecord]:
        return self.history.versions(article_id)

    def create_draft(self, resolution: Resolution) -> Article:
        """A draft article from a resolved conversation: the customer's question and the
        agent's answer. It is not served until reviewed and published."""
        if resolution.language not in ("zh", "en"):
            raise KnowledgeError(f"language {resolution.language!r}; allowed: zh, en")
        category = resolution.category.strip("/")
        title = resolution.title or resolution.question.strip().splitlines()[0][:60]
        slug = _slug(title) or "faq"
        existing = load_base(self.root).by_id()
        art_id, n = f"{category}/{slug}", 2
        while art_id in existing or self.history.latest_version(art_id):
            art_id, n = f"{category}/{slug}-{n}", n + 1
        tags = ["from-conversation"]
        if resolution.conversation_id:
            tags.append(f"conversation:{resolution.conversation_id}")
        draft = Article(
            id=art_id,
            title=title,
            category=category,
            language=resolution.language,
            body=resolution.answer.strip(),
            version=1,
            updated=date.today(),
            status="draft",
            questions=(resolution.question.strip(),),
            tags=tuple(tags),
        )
        _check(draft)
        with self._lock:
            path = write(self.root, draft)
        return draft.with_changes(path=str(path))

    def submit_for_review(self, article_id: str) -> Article:
        article = self.article(article_id)
        if article.status != "draft":
            raise KnowledgeError(f"{article_id} is {article.status}; only a draft goes to review")
        reviewed = article.with_changes(status="review")
        with self._lock:
            write(self.root, reviewed)
        return reviewed

    def publish(self, article_id: str, revision: Article | None = None) -> Article:
        """Publish a reviewed article: the next version number, today's date, history, and a
        re-index that embeds only this article. `revision`: the reviewed text of a change to an
        already published article (bot/knowledge/review.py keeps it apart until approved), to
        be written over the published file."""
        article = self.article(article_id) if revision is None else revision
        if article.id != article_id:
            raise KnowledgeError(f"revision of {article.id}, not of {article_id}")
        if article.status != "review":
            raise KnowledgeError(
                f"{article_id} is {article.status}; submit it for review before publishing"
            )
        version = self.history.latest_version(article_id) + 1
        published = article.with_changes(status="published", version=version, updated=date.today())
        with self._lock:
            write(self.root, published)
            self.history.record(published, note="published")
        self.reindex()
        return published


@dataclass(frozen=True)
class Resolution:
    """What the console hands over when an agent saves a resolution as knowledge."""

    question: str
    answer: str
    category: str
    language: str
    title: str | None = None
    conversation_id: str | None = None
    agent: str | None = None


def _slug(text: str) -> str:
    ascii_words = re.findall(r"[a-z0-9]+", text.casefold())
    if ascii_words:
        return "-".join(ascii_words)[:50].strip("-")
    return "q-" + hashlib.sha1(text.encode()).hexdigest()[:8]


def _check(article: Article) -> None:
    """Validate a new article exactly as the loader would, so drafts never break the base."""
    from bot.knowledge.loader import ArticleError, parse_article

    try:
        parse_article(render(article), article.id)
    except ArticleError as exc:
        raise KnowledgeError(f"draft is invalid: {exc.reason}") from exc
