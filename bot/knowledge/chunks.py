"""Splits articles into the pieces that are embedded and searched: title, questions, body."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.knowledge.article import Article

MAX_CHUNK_CHARS = 320
_SENTENCE_END = re.compile(r"(?<=[。！？!?.;；])\s*")


@dataclass(frozen=True)
class Chunk:
    article_id: str
    kind: str  # title | question | body
    text: str


def split_body(body: str, limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """Paragraphs, and sentences packed up to `limit` characters when a paragraph is long."""
    out: list[str] = []
    for para in (p.strip() for p in re.split(r"\n\s*\n", body)):
        if not para:
            continue
        if len(para) <= limit:
            out.append(para)
            continue
        current = ""
        for sentence in _SENTENCE_END.split(para):
            if current and len(current) + len(sentence) > limit:
                out.append(current.strip())
                current = ""
            current += sentence + " "
        if current.strip():
            out.append(current.strip())
    return out


def article_chunks(article: Article) -> list[Chunk]:
    """Each distinct phrasing once: an imported FAQ's title is its first question too."""
    chunks = [Chunk(article.id, "title", article.title)]
    seen = {article.title.strip()}
    for q in article.questions:
        if q.strip() not in seen:
            seen.add(q.strip())
            chunks.append(Chunk(article.id, "question", q))
    chunks += [Chunk(article.id, "body", b) for b in split_body(article.body)]
    return chunks
