"""Reads the knowledge base: Markdown files with YAML front matter, checked field by field.

A malformed article is reported with file, line and reason and left out; the rest of the base
still loads. Duplicate ids keep the first file and report the second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode

from bot.errors import DataProblem, RelaydeskError
from bot.knowledge.article import (
    CATEGORY_TOPS,
    LANGUAGES,
    MAX_CATEGORY_LEVELS,
    MEDIA_TYPES,
    STATUSES,
    Article,
    Media,
)

REQUIRED = ("id", "title", "category", "language", "version", "updated", "status")
OPTIONAL = ("translation_of", "questions", "tags", "media", "more")
MAX_FILE_BYTES = 256 * 1024
LONG_BODY_CHARS = 1200  # longer than a chat bubble should be; a warning, not an error
_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-]*)*(\.[a-z]{2})?$")
_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    problems: list[DataProblem] = field(default_factory=list)
    warnings: list[DataProblem] = field(default_factory=list)

    def by_id(self) -> dict[str, Article]:
        return {a.id: a for a in self.articles}


# libyaml's parser where PyYAML was built with it: parsing front matter in pure Python made
# opening a 10,000-article base take about 26 s.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FrontMatterLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that leaves dates as text, so a bad date is reported on its line instead
    of escaping from the YAML library as a ValueError."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class ArticleError(RelaydeskError):
    """An article is invalid: the line (when known) and why, for the file's problem list."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def load_base(root: Path) -> LoadResult:
    """Every article under `root` (README.md files are documentation, not articles)."""
    result = LoadResult()
    if not root.is_dir():
        result.problems.append(DataProblem(str(root), None, "knowledge folder does not exist"))
        return result
    seen: dict[str, str] = {}
    for path in sorted(root.rglob("*.md")):
        hidden = any(p.startswith(".") for p in path.relative_to(root).parts)
        if path.name.lower() == "readme.md" or hidden:
            continue
        try:
            article, warnings = read_article(path)
        except ArticleError as exc:
            result.problems.append(DataProblem(str(path), exc.line, exc.reason))
            continue
        result.warnings.extend(warnings)
        if article.id in seen:
            result.problems.append(
                DataProblem(
                    str(path),
                    _key_line(path, "id"),
                    f"duplicate id {article.id!r}, already in {seen[article.id]}",
                )
            )
            continue
        seen[article.id] = str(path)
        result.articles.append(article)
    ids = set(seen)
    for a in result.articles:
        if a.translation_of and a.translation_of not in ids:
            result.warnings.append(
                DataProblem(a.path, None, f"translation_of {a.translation_of!r}: no such article")
            )
    return result


def _key_line(path: Path, key: str) -> int:
    """The line of `key:` in a file's front matter (2 when it cannot be found)."""
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], start=2):
        if line.startswith(f"{key}:"):
            return n
        if line.strip() == "---":
            break
    return 2


def read_article(path: Path) -> tuple[Article, list[DataProblem]]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ArticleError(None, f"file is over {MAX_FILE_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(None, f"not UTF-8 text ({exc.reason})") from exc
    return parse_article(text, str(path))


def _compose_and_load(front: str) -> tuple[Any, Any]:
    """The front matter's node tree (for the line of each key) and its values, from one parse."""
    loader = _FrontMatterLoader(front)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def parse_article(text: str, path: str = "<string>") -> tuple[Article, list[DataProblem]]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    if not text.startswith("---\n"):
        raise ArticleError(1, "an article starts with '---' and YAML front matter")
    end = text.find("\n---", 4)
    if end == -1 or text[end + 4 : end + 5] not in ("\n", ""):
        raise ArticleError(1, "front matter is not closed by a '---' line")
    front, body = text[4 : end + 1], text[end + 5 :].strip()
    try:
        node, values = _compose_and_load(front)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark else None
        raise ArticleError(line, f"invalid YAML in front matter: {exc.problem}") from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise ArticleError(2, f"invalid YAML in front matter: {exc}") from exc
    if not isinstance(node, MappingNode) or not isinstance(values, dict):
        raise ArticleError(2, "front matter must be a mapping of fields")
    lines = {
        k.value: int(k.start_mark.line) + 2 for k, _ in node.value if isinstance(k, ScalarNode)
    }

    def fail(key: str, reason: str) -> ArticleError:
        return ArticleError(lines.get(key, 2), f"{key}: {reason}")

    unknown = set(values) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        key = sorted(unknown, key=lambda k: lines.get(str(k), 0))[0]
        raise fail(str(key), f"unknown field; allowed: {', '.join(REQUIRED + OPTIONAL)}")
    for key in REQUIRED:
        if values.get(key) in (None, ""):
            raise ArticleError(2, f"{key}: required field is missing")

    art_id = _text(values["id"], "id", fail)
    if not _ID.match(art_id):
        raise fail("id", f"{art_id!r} is not a lower-case path like after-sales/returns/seven-day")
    category = _text(values["category"], "category", fail).strip("/")
    segments = category.split("/")
    if segments[0] not in CATEGORY_TOPS:
        raise fail(
            "category",
            f"unknown top level {segments[0]!r}; allowed: {', '.join(CATEGORY_TOPS)}",
        )
    if len(segments) > MAX_CATEGORY_LEVELS + 1:
        raise fail(
            "category",
            f"{category!r} has {len(segments) - 1} levels below the top; at most "
            f"{MAX_CATEGORY_LEVELS} (e.g. product/phone/settings/bluetooth)",
        )
    bad = [s for s in segments if not _SEGMENT.match(s)]
    if bad:
        raise fail("category", f"level {bad[0]!r} must be lower-case letters, digits and '-'")
    language = values["language"]
    if language not in LANGUAGES:
        raise fail("language", f"{language!r}; allowed: {', '.join(LANGUAGES)}")
    version = values["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise fail("version", f"{version!r} must be a whole number from 1")
    updated = values["updated"]
    if isinstance(updated, str):
        try:
            updated = date.fromisoformat(updated)
        except ValueError as exc:
            raise fail("updated", f"{updated!r} is not an ISO date (YYYY-MM-DD)") from exc
    if not isinstance(updated, date):
        raise fail("updated", f"{updated!r} is not an ISO date (YYYY-MM-DD)")
    status = values["status"]
    if status not in STATUSES:
        raise fail("status", f"{status!r}; allowed: {', '.join(STATUSES)}")
    translation_of = values.get("translation_of")
    if translation_of is not None:
        translation_of = _text(translation_of, "translation_of", fail)
        if translation_of == art_id:
            raise fail("translation_of", "an article cannot be a translation of itself")
    questions = _strings(values.get("questions"), "questions", fail)
    tags = _strings(values.get("tags"), "tags", fail)
    media = _media(values.get("media"), fail)
    more = values.get("more")
    if more is not None:
        more = _text(more, "more", fail)
    if not body:
        raise ArticleError(text[: end + 5].count("\n") + 1, "the body is empty")
    warnings = []
    if len(body) > LONG_BODY_CHARS:
        warnings.append(
            DataProblem(path, None, f"body has {len(body)} characters; too long for a chat reply")
        )
    article = Article(
        id=art_id,
        title=_text(values["title"], "title", fail),
        category=category,
        language=language,
        body=body,
        version=version,
        updated=updated,
        status=status,
        translation_of=translation_of,
        questions=questions,
        tags=tags,
        media=media,
        more=more,
        path=path,
    )
    return article, warnings


def _text(value: Any, key: str, fail: Any) -> str:
    if (
        not isinstance(value, (str, int, float))
        or isinstance(value, bool)
        or not str(value).strip()
    ):
        raise fail(key, f"{value!r} must be text")
    return str(value).strip()


def _strings(value: Any, key: str, fail: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise fail(key, "must be a list of text items")
    out = tuple(str(v).strip() for v in value)
    if any(not v for v in out):
        raise fail(key, "has an empty item")
    return out


def _media(value: Any, fail: Any) -> tuple[Media, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise fail("media", "must be a list of {type, url, caption}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise fail("media", f"item {i} must be a mapping with type, url and caption")
        kind, url = item.get("type"), item.get("url")
        if kind not in MEDIA_TYPES:
            raise fail("media", f"item {i}: type {kind!r}; allowed: {', '.join(MEDIA_TYPES)}")
        if not isinstance(url, str) or not url.strip():
            raise fail("media", f"item {i}: url is missing")
        extra = set(item) - {"type", "url", "caption"}
        if extra:
            raise fail("media", f"item {i}: unknown field(s) {', '.join(sorted(extra))}")
        out.append(Media(kind, url.strip(), str(item.get("caption") or "")))
    return tuple(out)
