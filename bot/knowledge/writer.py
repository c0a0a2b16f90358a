"""Writes an article back as Markdown with front matter, in the field order people expect."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.article import Article


def render(article: Article) -> str:
    front: dict[str, Any] = {
        "id": article.id,
        "title": article.title,
        "category": article.category,
        "language": article.language,
        "translation_of": article.translation_of,
        "version": article.version,
        "updated": article.updated.isoformat(),
        "status": article.status,
        "questions": list(article.questions),
        "tags": list(article.tags),
    }
    if article.media:
        front["media"] = [m.to_dict() for m in article.media]
    if article.more:
        front["more"] = article.more
    text = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=100)
    # safe_dump quotes ISO dates as strings; the loader accepts both.
    return f"---\n{text}---\n{article.body.strip()}\n"


def path_for(root: Path, article: Article) -> Path:
    """knowledge/<language>/<id without a language suffix>.md"""
    stem = (
        article.id[: -len(f".{article.language}")]
        if article.id.endswith(f".{article.language}")
        else article.id
    )
    return root / article.language / f"{stem}.md"


def write(root: Path, article: Article) -> Path:
    """Write atomically: a reader never sees half an article."""
    target = Path(article.path) if article.path else path_for(root, article)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(render(article))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
