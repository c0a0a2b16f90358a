"""The review desk: what is waiting for review, how it differs from what customers are served, and
the moves that take it to publication (edit, submit, approve) or back to its author (reject).

Two kinds of candidate:

- a new article: a draft saved from a conversation (KnowledgeBase.create_draft), in its own
  Markdown file under knowledge/ with `status: draft` or `status: review`; the loader reads it but
  the index serves only published articles, so it is invisible to customers until approved;
- a revision of a published article: its text is kept apart, in knowledge/.review/<language>/...
  (a hidden folder the loader skips), so the published version stays served while the change is
  discussed. Approving writes it over the published file with the next version number.

Files stay the source of truth (git-friendly): every move is an atomic file write. Who made each
move is the store's business (bot/store/knowledge_events.py); this module only knows articles.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from bot.knowledge.article import Article
from bot.knowledge.base import KnowledgeBase, KnowledgeError
from bot.knowledge.loader import ArticleError, parse_article, read_article
from bot.knowledge.writer import path_for, render, write

REVIEW_DIR = ".review"
PENDING = ("draft", "review")
MAX_TITLE_CHARS = 120
MAX_BODY_CHARS = 8000
MAX_QUESTIONS = 30
MAX_QUESTION_CHARS = 500
MAX_TAGS = 20
MAX_TAG_CHARS = 60


class StaleEdit(KnowledgeError):
    """The text changed since the caller read it: someone else edited it in between."""


class NotUnderReview(KnowledgeError):
    """No such article, or a published one with no change under review."""


class InvalidText(KnowledgeError):
    """An edit that would not make a valid article (empty, too long, unreadable)."""


@dataclass(frozen=True)
class Candidate:
    """An article waiting for review and what customers are served for it now."""

    article: Article  # the text under review; status draft or review
    published: Article | None  # the served version; None for a new article
    kind: str  # "new" | "revision"

    @property
    def id(self) -> str:
        return self.article.id


@dataclass(frozen=True)
class Changes:
    """What a reviewer or the author may change. None leaves a field as it is; the id, the
    category and the language stay (they name the file)."""

    title: str | None = None
    body: str | None = None
    questions: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None


def reader_text(article: Article | None) -> list[str]:
    """The lines a reader sees, for the diff: title, questions, tags, body. Version, date and
    status are not content and would only add noise."""
    if article is None:
        return []
    lines = [f"# {article.title}", ""]
    lines += [f"? {q}" for q in article.questions]
    if article.tags:
        lines.append("tags: " + ", ".join(article.tags))
    lines.append("")
    lines += article.body.strip().splitlines()
    return lines


def diff(candidate: Candidate) -> list[dict[str, str]]:
    """Line diff of the published text against the candidate: {"op": " "|"+"|"-", "text"}.
    Every line of a new article is an addition."""
    old, new = reader_text(candidate.published), reader_text(candidate.article)
    out: list[dict[str, str]] = []
    for line in difflib.ndiff(old, new):
        op = line[:1]
        if op in (" ", "+", "-"):
            out.append({"op": op, "text": line[2:]})
    return out


P = ParamSpec("P")
R = TypeVar("R")


def _one_move_at_a_time(
    fn: Callable[Concatenate[ReviewDesk, P], R],
) -> Callable[Concatenate[ReviewDesk, P], R]:
    """A move reads the candidate, checks its status and writes it: two at once (two reviewers
    approving together) would publish twice."""

    def serialised(self: ReviewDesk, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._moves:
            return fn(self, *args, **kwargs)

    return serialised


class ReviewDesk:
    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.root = kb.root
        self.review_root = kb.root / REVIEW_DIR
        self._moves = threading.Lock()

    # -- reading --------------------------------------------------------------------------
    def pending(self) -> list[Candidate]:
        """Articles in review, then drafts (new ones and revisions), each most recently updated
        first."""
        loaded = self.kb.load_articles()
        published = {a.id: a for a in loaded.articles if a.status == "published"}
        out = [Candidate(a, None, "new") for a in loaded.articles if a.status in PENDING]
        for revision in self._revisions():
            out.append(Candidate(revision, published.get(revision.id), "revision"))
        out.sort(key=lambda c: (c.article.updated, c.id), reverse=True)
        out.sort(key=lambda c: c.article.status != "review")  # what waits for a decision first
        return out

    def candidate(self, article_id: str) -> Candidate:
        revision = self._revision(article_id)
        if revision is not None:
            return Candidate(revision, self._published(article_id), "revision")
        try:
            article = self.kb.article(article_id)
        except KnowledgeError as exc:
            raise NotUnderReview(f"no article {article_id!r} under review") from exc
        if article.status not in PENDING:
            raise NotUnderReview(f"{article_id} is published and has no change under review")
        return Candidate(article, None, "new")

    def published_articles(self, query: str = "", limit: int = 20) -> list[Article]:
        """Published articles whose id or title contains `query` (case-folded), for choosing
        one to revise."""
        q = query.casefold().strip()
        found = [
            a
            for a in self.kb.load_articles().articles
            if a.status == "published" and (q in a.id or q in a.title.casefold())
        ]
        return sorted(found, key=lambda a: a.id)[:limit]

    # -- moves ----------------------------------------------------------------------------
    @_one_move_at_a_time
    def revise(self, article_id: str) -> Candidate:
        """Start a change to a published article: a copy of its text in the review folder."""
        if self._revision(article_id) is not None:
            raise KnowledgeError(f"{article_id} already has a change under review")
        current = self._published(article_id)
        if current is None:
            if self._exists(article_id):
                raise KnowledgeError(f"{article_id} is not published; edit the draft instead")
            raise NotUnderReview(f"no published article {article_id!r}")
        revision = current.with_changes(status="draft", path=str(self._revision_path(current)))
        self._write(revision)
        return Candidate(revision, current, "revision")

    @_one_move_at_a_time
    def edit(self, article_id: str, changes: Changes, base: str | None = None) -> Candidate:
        """Change a candidate's text. `base`: the content hash the editor started from; a
        different current hash means someone else changed it meanwhile (StaleEdit)."""
        cand = self.candidate(article_id)
        _check_base(cand.article, base)
        updated = cand.article.with_changes(
            **{k: v for k, v in _clean(changes).items() if v is not None}
        )
        _validate(updated)
        self._write(updated)
        return Candidate(updated, cand.published, cand.kind)

    @_one_move_at_a_time
    def submit(self, article_id: str) -> Candidate:
        cand = self.candidate(article_id)
        if cand.article.status != "draft":
            raise KnowledgeError(f"{article_id} is already in review")
        submitted = cand.article.with_changes(status="review")
        self._write(submitted)
        return Candidate(submitted, cand.published, cand.kind)

    @_one_move_at_a_time
    def reject(self, article_id: str) -> Candidate:
        """Send it back to its author as a draft (the reason goes with the decision's record)."""
        cand = self.candidate(article_id)
        if cand.article.status != "review":
            raise KnowledgeError(f"{article_id} is a draft; only an article in review is rejected")
        back = cand.article.with_changes(status="draft")
        self._write(back)
        return Candidate(back, cand.published, cand.kind)

    @_one_move_at_a_time
    def discard(self, article_id: str) -> Candidate:
        """Drop a candidate nobody wants: a new article's file is deleted, a proposed change's
        copy is removed (the published version stays as it is)."""
        cand = self.candidate(article_id)
        with self.kb._lock:
            Path(cand.article.path).unlink(missing_ok=True)
        return cand

    @_one_move_at_a_time
    def approve(self, article_id: str, base: str | None = None) -> Article:
        """Publish what the reviewer read: the next version, history kept, the index updated by
        embedding this article only. A revision replaces the published file and leaves the
        review folder."""
        cand = self.candidate(article_id)
        _check_base(cand.article, base)
        if cand.article.status != "review":
            raise KnowledgeError(f"{article_id} is a draft; submit it for review first")
        if cand.kind == "new":
            return self.kb.publish(article_id)
        current = cand.published
        if current is None:
            raise KnowledgeError(f"{article_id}: the published article is gone; nothing to revise")
        # The served version is in the history before the next one is numbered after it.
        self.kb.history.record(current, note="indexed")
        published = self.kb.publish(article_id, cand.article.with_changes(path=current.path))
        Path(cand.article.path).unlink(missing_ok=True)
        return published

    # -- files ----------------------------------------------------------------------------
    def _published(self, article_id: str) -> Article | None:
        try:
            article = self.kb.article(article_id)
        except KnowledgeError:
            return None
        return article if article.status == "published" else None

    def _exists(self, article_id: str) -> bool:
        return article_id in self.kb.load_articles().by_id()

    def _revision_path(self, article: Article) -> Path:
        return path_for(self.review_root, article)

    def _revisions(self) -> list[Article]:
        if not self.review_root.is_dir():
            return []
        out = []
        for path in sorted(self.review_root.rglob("*.md")):
            if any(p.startswith(".") for p in path.relative_to(self.review_root).parts):
                continue  # a writer's temporary file
            try:
                article, _ = read_article(path)
            except ArticleError:
                continue  # a hand-broken file: the loader's checks name it in `kb index`
            out.append(article)
        return out

    def _revision(self, article_id: str) -> Article | None:
        for revision in self._revisions():
            if revision.id == article_id:
                return revision
        return None

    def _write(self, article: Article) -> None:
        with self.kb._lock:  # one writer at a time with publishing and re-indexing
            write(self.root, article)


def _check_base(article: Article, base: str | None) -> None:
    if base is not None and base != article.content_hash:
        raise StaleEdit(f"{article.id} changed since you opened it; reload to see the current text")


def _clean(changes: Changes) -> dict[str, Any]:
    """Trimmed and size-checked fields; KnowledgeError names the bad one."""
    out: dict[str, Any] = {}
    if changes.title is not None:
        title = changes.title.strip()
        if not title or len(title) > MAX_TITLE_CHARS:
            raise InvalidText(f"title must be 1 to {MAX_TITLE_CHARS} characters")
        out["title"] = title
    if changes.body is not None:
        body = changes.body.strip()
        if not body or len(body) > MAX_BODY_CHARS:
            raise InvalidText(f"body must be 1 to {MAX_BODY_CHARS} characters")
        out["body"] = body
    if changes.questions is not None:
        questions = tuple(dict.fromkeys(q.strip() for q in changes.questions if q.strip()))
        if len(questions) > MAX_QUESTIONS or any(len(q) > MAX_QUESTION_CHARS for q in questions):
            raise InvalidText(
                f"at most {MAX_QUESTIONS} questions of {MAX_QUESTION_CHARS} characters"
            )
        out["questions"] = questions
    if changes.tags is not None:
        tags = tuple(dict.fromkeys(t.strip() for t in changes.tags if t.strip()))
        if len(tags) > MAX_TAGS or any(len(t) > MAX_TAG_CHARS for t in tags):
            raise InvalidText(f"at most {MAX_TAGS} tags of {MAX_TAG_CHARS} characters")
        out["tags"] = tags
    return out


def _validate(article: Article) -> None:
    """Check the edited text exactly as the loader will read it back."""
    try:
        parse_article(render(article), article.id)
    except ArticleError as exc:
        raise InvalidText(f"the article would not load: {exc.reason}") from exc
