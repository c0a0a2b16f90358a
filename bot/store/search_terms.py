"""The words of past conversations' search: what a message is indexed under, what a query asks
for, and the short snippet shown for a hit.

Chinese is segmented with jieba (`cut_for_search`, which also yields the shorter words inside a
long one: 订单号 gives 订单, 单号, 订单号) and every message also carries the bigrams of its runs
of Han characters. A query's Chinese word matches either as that jieba word or as all of its
bigrams, so a query segmented differently from the message (要退款 against 我要 | 退款) still
finds it, while an exact word match ranks higher. Everything else is lower-cased (NFKC, so
full-width Ｒｅｆｕｎｄ is refund) and split into runs of letters and digits: English words,
order numbers, ticket numbers.

Terms are plain strings of word characters, joined by spaces, so SQLite's FTS5 (unicode61
tokenizer) and PostgreSQL's `to_tsvector('simple', ...)` both take them as they are.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 4000  # per message: a pasted log cannot blow up the index
MAX_QUERY_TERMS = 12  # per query: each one is an AND in the index's query
_jieba_lock = threading.Lock()
_jieba_ready = False


def _jieba() -> Any:
    """jieba, its dictionary loaded once (about half a second) and its chatter silenced."""
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba_ready = True
    return jieba


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _words(tokens: Iterable[str]) -> list[str]:
    """Word-character pieces of jieba's tokens (punctuation and spaces dropped; 'order-123'
    becomes 'order', '123')."""
    out: list[str] = []
    for tok in tokens:
        out += _WORD.findall(tok)
    return out


def bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def index_terms(text: str) -> str:
    """What a message is indexed under, as space-separated terms ('' when it has no words)."""
    norm = normalize(text)
    jieba = _jieba()
    terms = _words(jieba.cut_for_search(norm))
    for run in _HAN_RUN.findall(norm):
        terms += bigrams(run)
    return " ".join(terms[:MAX_TERMS])


@dataclass(frozen=True)
class Query:
    """A parsed query: `groups` must all match a message; a group matches when any of its
    alternatives does, and an alternative is a tuple of terms that must all be present.
    `highlight` lists the strings to mark in snippets (lower-cased)."""

    groups: tuple[tuple[tuple[str, ...], ...], ...]
    highlight: tuple[str, ...]

    def fts5(self) -> str:
        """The query in FTS5's syntax (every term quoted, so nothing is read as an operator)."""

        def alt(terms: tuple[str, ...]) -> str:
            return " AND ".join(f'"{t}"' for t in terms)

        return " AND ".join(
            "(" + " OR ".join(f"({alt(a)})" for a in group) + ")" for group in self.groups
        )

    def tsquery(self) -> str:
        """The query in PostgreSQL's tsquery syntax (every lexeme quoted)."""

        def alt(terms: tuple[str, ...]) -> str:
            return " & ".join(f"'{t}'" for t in terms)

        return " & ".join(
            "(" + " | ".join(f"({alt(a)})" for a in group) + ")" for group in self.groups
        )


def parse_query(text: str) -> Query | None:
    """The query's terms, or None when it has no word to look for (only punctuation).

    Each run of Chinese characters is one group: its jieba words, or else all its bigrams (a
    single character stands for itself). Every other word is a group of its own."""
    norm = normalize(text)
    jieba = _jieba()
    groups: list[tuple[tuple[str, ...], ...]] = []
    highlight: set[str] = set()
    for run in dict.fromkeys(_HAN_RUN.findall(norm)):
        words = tuple(dict.fromkeys(_words(jieba.cut(run))))
        alternatives = [words]
        if len(run) > 1:
            pairs = tuple(dict.fromkeys(bigrams(run)))
            if pairs != words:
                alternatives.append(pairs)
        groups.append(tuple(alternatives))
        highlight.update(words, [run])
    for word in dict.fromkeys(_WORD.findall(_HAN_RUN.sub(" ", norm))):
        groups.append(((word,),))
        highlight.add(word)
    if not groups:
        return None
    # Longest first: a highlighted 订单号 is not cut into 订单 by an earlier, shorter match.
    return Query(tuple(groups[:MAX_QUERY_TERMS]), tuple(sorted(highlight, key=len, reverse=True)))


def snippet(text: str, highlight: tuple[str, ...], width: int = 90) -> str:
    """About `width` characters of `text` around its first match, with an ellipsis where cut."""
    flat = " ".join(text.split())
    lower = flat.lower()
    found = [i for i in (lower.find(h) for h in highlight) if i >= 0]
    if not found:
        for h in highlight:  # matched through bigrams: find the first one
            found += [i for i in (lower.find(b) for b in bigrams(h)) if i >= 0]
    start = max(0, min(found) - width // 3) if found else 0
    end = min(len(flat), start + width)
    start = max(0, min(start, end - width))
    out = flat[start:end]
    return ("…" if start > 0 else "") + out + ("…" if end < len(flat) else "")
