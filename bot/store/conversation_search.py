"""Full-text search of past (and current) conversations: what customers, agents and the bot
wrote, found by words in Chinese (jieba) or English, grouped per conversation, newest and best
first, a page at a time.

The index is kept apart from the hot path. Storing a message does nothing more than before; an
indexer reads the messages after the last one it indexed (`search_cursors`), tokenizes them off
the database thread and writes their terms (SQLite: an FTS5 table; PostgreSQL: a `tsvector` with
a GIN index, 'simple' configuration, both over the same pre-tokenized terms, bot/store/
search_terms.py). It runs every few seconds (`SearchIndexer`) and catches up before each search,
so a message is findable moments after it is stored, and a process that dies mid-batch loses
nothing: the cursor only moves after the terms are committed, and writing a message's terms
twice is harmless.

On PostgreSQL message ids can commit out of order (id 101 before 100), so the cursor stays
`PG_SETTLE` behind the newest messages: those are indexed each round again until they settle.
System messages and internal payloads (`payload.internal`) are never indexed. With
`privacy.mask_transcripts`, customers' words are masked again before indexing and in snippets,
so a contact detail stored before masking was turned on is not shown, nor findable unless its
message had been indexed before then (messages are append-only: the index never re-reads one).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import DateTime, Float, Integer, String, select, text
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.periodic import Periodic
from bot.privacy import mask_text
from bot.store.engine import Database
from bot.store.records import ConversationRecord
from bot.store.search_terms import Query, index_terms, parse_query, snippet
from bot.store.settings import StoreSettings
from bot.store.tables import CONV, CUST, MSG, conversation_record, utc

log = logging.getLogger(__name__)
BATCH = 500  # messages per indexing transaction
CATCH_UP = 5_000  # at most this many messages indexed before a search answers
MAX_CANDIDATES = 1_000  # newest matching messages a search ranks
MAX_ALLOW_CHECKS = 400  # conversations a page may test against `allow`
PG_SETTLE = timedelta(seconds=30)
RECENCY_HALF_LIFE_DAYS = 30.0
CURSOR = "messages"

Allow = Callable[[ConversationRecord], Awaitable[bool]]


class BadCursorError(InputError):
    """A `before` cursor this search did not hand out (or one edited by hand)."""


@dataclass(frozen=True)
class SearchHit:
    """One conversation found: where, who, and the best-matching message's snippet."""

    conversation_id: str
    customer_id: str
    customer_name: str | None
    channel: str
    started_at: datetime
    closed_at: datetime | None
    status: str
    snippet: str
    matches: int  # messages of this conversation that match
    message_id: int  # the snippet's message
    seq: int
    sender: str
    at: datetime  # when the snippet's message was sent
    score: float

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("started_at", "closed_at", "at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        return out


@dataclass(frozen=True)
class SearchPage:
    results: list[SearchHit]
    next: str | None  # pass as `before` for the following page
    terms: tuple[str, ...]  # what to highlight in snippets, lower-cased


@dataclass
class _Group:
    conversation_id: str
    best_id: int
    best_rel: float
    matches: int
    last_at: datetime
    score: float = 0.0


class ConversationSearch:
    """The index and the search over it (`store.conversation_search`)."""

    def __init__(self, db: Database, settings: StoreSettings) -> None:
        self.db = db
        self.settings = settings
        self._indexing = asyncio.Lock()
        self._fresh: set[int] = set()  # indexed, but past the cursor (PostgreSQL's PG_SETTLE)

    # -- indexing ------------------------------------------------------------------------
    async def index_pending(self, max_messages: int | None = None) -> int:
        """Index the messages stored since the last run; how many were read."""
        async with self._indexing:
            after = await self.db.run(_cursor)
            done = 0
            while max_messages is None or done < max_messages:
                rows = await self.db.run(partial(_batch, after=after))
                if not rows:
                    break
                mask = self.settings.mask_transcripts
                # Rows this process indexed while they were too fresh for the cursor to pass
                # are read again, but not tokenized and written again.
                todo = [r for r in rows if int(r.id) not in self._fresh]
                terms = await asyncio.to_thread(_terms_of, todo, mask)
                settled = self._settled(rows)
                await self.db.run(partial(self._write, terms=terms, cursor=settled))
                after = rows[-1].id
                if settled != after:
                    self._fresh.update(int(r.id) for r in todo)
                if settled is not None:
                    self._fresh = {i for i in self._fresh if i > settled}
                done += len(rows)
                if len(rows) < BATCH:
                    break
            return done

    def _settled(self, rows: list[Any]) -> int | None:
        """How far the cursor may move: past every row on SQLite (one writer, ids commit in
        order); on PostgreSQL only past rows older than PG_SETTLE."""
        if self.db.dialect == "sqlite":
            return int(rows[-1].id)
        horizon = clock.now() - PG_SETTLE
        settled = None
        for row in rows:
            if (utc(row.created_at) or horizon) > horizon:
                break
            settled = int(row.id)
        return settled

    def _write(self, s: Session, terms: list[tuple[int, str]], cursor: int | None) -> None:
        if terms:
            params = [{"id": i, "terms": t} for i, t in terms]
            if self.db.dialect == "sqlite":
                s.execute(text("DELETE FROM message_search WHERE rowid = :id"), params)
                s.execute(
                    text("INSERT INTO message_search (rowid, terms) VALUES (:id, :terms)"), params
                )
            else:
                s.execute(
                    text(
                        "INSERT INTO message_search (message_id, terms)"
                        " VALUES (:id, to_tsvector('simple', :terms))"
                        " ON CONFLICT (message_id) DO UPDATE SET terms = EXCLUDED.terms"
                    ),
                    params,
                )
        if cursor is not None:
            s.execute(
                text(
                    "UPDATE search_cursors SET last_id = :id, updated_at = :at"
                    " WHERE name = :name AND last_id < :id"
                ),
                {"id": cursor, "at": clock.now(), "name": CURSOR},
            )
        s.commit()

    # -- searching -----------------------------------------------------------------------
    async def search(
        self,
        query: str,
        *,
        limit: int = 20,
        before: str | None = None,
        allow: Allow | None = None,
    ) -> SearchPage:
        """Conversations whose messages match every word of `query`, best first: a blend of
        the best message's relevance and how recent the conversation's matches are. `allow`
        (if given) decides which conversations the caller may see; `before` continues from
        a previous page's `next`. InputError when the query has no word; BadCursorError."""
        parsed = parse_query(query)
        if parsed is None:
            raise InputError("the query has no letters, digits or Chinese characters")
        anchor, max_id, after = _read_cursor(before) if before else (clock.now(), None, None)
        if not self._indexing.locked():  # else the loop is at it: no waiting behind a backlog
            await self.index_pending(CATCH_UP)
        rows = await self.db.run(lambda s: self._candidates(s, parsed, max_id))
        if max_id is None:
            max_id = max((int(r.id) for r in rows), default=0)
        groups = _rank(rows, anchor)
        if after is not None:
            score, cid = after
            groups = [g for g in groups if (-g.score, g.conversation_id) > (-score, cid)]
        page: list[tuple[_Group, ConversationRecord, str | None]] = []
        more, checked, last = False, 0, None
        for start in range(0, len(groups), 100):
            chunk = groups[start : start + 100]
            convs = await self.db.run(partial(_conversations, groups=chunk))
            for g in chunk:
                found = convs.get(g.conversation_id)
                if found is None:  # deleted since it was indexed
                    continue
                if len(page) == limit or checked == MAX_ALLOW_CHECKS:
                    more = True
                    break
                checked, last = checked + 1, g
                if allow is None or await allow(found[0]):
                    page.append((g, *found))
            if more:
                break
        hits = await self._hits(page, parsed)
        # The next page starts after the last conversation looked at (shown or not).
        cursor = None
        if more and last is not None:
            cursor = _write_cursor(anchor, max_id, last.score, last.conversation_id)
        return SearchPage(hits, cursor, parsed.highlight)

    def _candidates(self, s: Session, q: Query, max_id: int | None) -> list[Any]:
        bound = max_id if max_id is not None else 2**31 - 1  # messages.id is an INTEGER
        if self.db.dialect == "sqlite":
            sql = (
                "SELECT h.id, h.rel, m.conversation_id, m.created_at FROM ("
                " SELECT rowid AS id, -bm25(message_search) AS rel FROM message_search"
                " WHERE message_search MATCH :q AND rowid <= :max"
                " ORDER BY rowid DESC LIMIT :n) h JOIN messages m ON m.id = h.id"
                " ORDER BY h.id DESC"
            )
            q_text = q.fts5()
        else:
            sql = (
                "SELECT h.id, h.rel, m.conversation_id, m.created_at FROM ("
                " SELECT message_id AS id, ts_rank(terms, query) AS rel"
                " FROM message_search, to_tsquery('simple', :q) query"
                " WHERE terms @@ query AND message_id <= :max"
                " ORDER BY message_id DESC LIMIT :n) h JOIN messages m ON m.id = h.id"
                " ORDER BY h.id DESC"
            )
            q_text = q.tsquery()
        typed = text(sql).columns(
            id=Integer(), rel=Float(), conversation_id=String(), created_at=DateTime(timezone=True)
        )
        return list(s.execute(typed, {"q": q_text, "max": bound, "n": MAX_CANDIDATES}))

    async def _hits(
        self, page: list[tuple[_Group, ConversationRecord, str | None]], q: Query
    ) -> list[SearchHit]:
        ids = [g.best_id for g, _, _ in page]

        def work(s: Session) -> dict[int, Any]:
            rows = s.execute(
                select(MSG.c.id, MSG.c.seq, MSG.c.sender, MSG.c.text, MSG.c.created_at).where(
                    MSG.c.id.in_(ids)
                )
            )
            return {int(r.id): r for r in rows}

        messages = await self.db.run(work) if ids else {}
        hits = []
        for g, conv, name in page:
            msg = messages.get(g.best_id)
            if msg is None:
                continue
            body = msg.text
            if self.settings.mask_transcripts and msg.sender == "customer":
                body = mask_text(body)
            hits.append(
                SearchHit(
                    conv.id,
                    conv.customer_id,
                    name,
                    conv.channel,
                    conv.created_at,
                    conv.closed_at,
                    conv.status,
                    snippet(body, q.highlight),
                    g.matches,
                    g.best_id,
                    msg.seq,
                    msg.sender,
                    utc(msg.created_at) or msg.created_at,
                    g.score,
                )
            )
        return hits


class SearchIndexer:
    """Keeps the index current in a running server: `start()`, then `await stop()`."""

    def __init__(self, search: ConversationSearch, every_s: float = 2.0) -> None:
        self.search = search
        self._loop = Periodic(
            "conversation-search-index",
            self._round,
            lambda: every_s,
            # a database hiccup: the next round starts from the same cursor
            lambda _exc: log.exception("indexing messages for search failed"),
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _round(self) -> None:
        n = await self.search.index_pending()
        if n >= BATCH:
            log.info("search index: %d messages indexed", n)


# -- helpers -----------------------------------------------------------------------------
def _cursor(s: Session) -> int:
    found = s.execute(
        text("SELECT last_id FROM search_cursors WHERE name = :name"), {"name": CURSOR}
    ).scalar()
    return int(found or 0)


def _batch(s: Session, after: int) -> list[Any]:
    return list(
        s.execute(
            select(MSG.c.id, MSG.c.sender, MSG.c.text, MSG.c.payload, MSG.c.created_at)
            .where(MSG.c.id > after)
            .order_by(MSG.c.id)
            .limit(BATCH)
        )
    )


def _terms_of(rows: list[Any], mask: bool) -> list[tuple[int, str]]:
    """The terms of each indexable message (never system messages or internal payloads)."""
    out = []
    for row in rows:
        payload = row.payload if isinstance(row.payload, dict) else {}
        if row.sender == "system" or payload.get("internal"):
            continue
        body = row.text or ""
        if mask and row.sender == "customer":
            body = mask_text(body)
        terms = index_terms(body)
        if terms:
            out.append((int(row.id), terms))
    return out


def _rank(rows: list[Any], anchor: datetime) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for r in rows:  # newest first: a conversation's first row is its latest match
        rel = float(r.rel)
        g = groups.get(r.conversation_id)
        if g is None:
            groups[r.conversation_id] = _Group(r.conversation_id, r.id, rel, 1, r.created_at)
            continue
        g.matches += 1
        if rel > g.best_rel:
            g.best_id, g.best_rel = r.id, rel
    top = max((g.best_rel for g in groups.values()), default=0.0) or 1.0
    for g in groups.values():
        g.last_at = utc(g.last_at) or g.last_at
        age_days = max(0.0, (anchor - g.last_at).total_seconds() / 86400)
        recency = 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS)
        bonus = 0.05 * min(g.matches - 1, 4)
        g.score = round(0.65 * g.best_rel / top + 0.35 * recency + bonus, 9)
    return sorted(groups.values(), key=lambda g: (-g.score, g.conversation_id))


def _conversations(s: Session, groups: list[_Group]) -> dict[str, tuple[ConversationRecord, Any]]:
    rows = s.execute(
        select(CONV, CUST.c.name.label("customer_name"))
        .join(CUST, CUST.c.id == CONV.c.customer_id)
        .where(CONV.c.id.in_([g.conversation_id for g in groups]))
    )
    return {r.id: (conversation_record(r), r.customer_name) for r in rows}


def _write_cursor(anchor: datetime, max_id: int, score: float, cid: str) -> str:
    raw = json.dumps({"t": anchor.timestamp(), "m": max_id, "s": score, "c": cid})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[datetime, int, tuple[float, str]]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        anchor = datetime.fromtimestamp(float(data["t"]), tz=clock.now().tzinfo)
        max_id, score, cid = int(data["m"]), float(data["s"]), str(data["c"])
    except (binascii.Error, ValueError, TypeError, KeyError, OverflowError) as exc:
        raise BadCursorError("'before' is not a cursor this search handed out") from exc
    return anchor, max_id, (score, cid)


__all__ = ["BadCursorError", "ConversationSearch", "SearchHit", "SearchIndexer", "SearchPage"]
