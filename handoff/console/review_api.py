"""Knowledge review for agents and supervisors: drafts and articles in review, diff, edit,
approve, reject, and who contributed what.

    GET  /console/review                              the review page (review.html/.js/.css)
    GET  /console/review-stats.js                     the dashboard's knowledge-contributions table
    GET  /api/review/items                            drafts and articles in review
    GET  /api/review/items/{id}                       one: text, published text, diff, steps
    POST /api/review/items/{id}/edit                  {title?, body?, questions?, tags?, base?}
    POST /api/review/items/{id}/submit                a draft goes to review
    POST /api/review/items/{id}/approve  (sup.)       {base?}: publish, re-index, history
    POST /api/review/items/{id}/reject   (sup.)       {reason}: back to its author as a draft
    POST /api/review/items/{id}/discard               {reason?}: drop it (sup., or its author)
    GET  /api/review/articles?q=                      published articles, to propose a change
    POST /api/review/articles/{id}/revise             start a change to a published article
    GET  /api/review/contributions?from=YYYY-MM&to=YYYY-MM  (sup.) per agent and month

Any logged-in agent reads, writes drafts, proposes changes and submits; supervisors and admins
also edit what is in review and decide. `base` is the content hash the caller last read: a
decision or an edit on a text that changed meanwhile is refused (409), so nobody publishes words
they did not see. The file work runs in a thread: publishing embeds the article and re-tunes the
answer decision, which takes a moment and must not stall the console's other requests.
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import clock
from bot.errors import InputError
from bot.http.json_body import read_object
from bot.knowledge.article import Article
from bot.knowledge.base import KnowledgeBase, KnowledgeError
from bot.knowledge.review import (
    Candidate,
    Changes,
    InvalidText,
    NotUnderReview,
    ReviewDesk,
    StaleEdit,
    diff,
)
from bot.store.knowledge_events import MAX_REASON_CHARS, KnowledgeEventRecord
from bot.store.records import AgentRecord
from handoff.console.agent_api import dumps
from handoff.console.auth import SUPERVISORS, require_agent, require_supervisor
from handoff.console.services import CONSOLE

routes = web.RouteTableDef()
STATIC = Path(__file__).resolve().parent / "static"
ARTICLE_ID = "{article_id:[a-z0-9][a-z0-9_./-]*}"
MAX_QUERY_CHARS = 100
MAX_MONTHS = 24
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# One desk per knowledge base, so its lock orders every move made through this process.
_desks: weakref.WeakKeyDictionary[KnowledgeBase, ReviewDesk] = weakref.WeakKeyDictionary()


# -- the page ------------------------------------------------------------------------------------
@routes.get("/console/review")
async def review_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC / "review.html",
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
    )


@routes.get("/console/review.js")
async def review_script(request: web.Request) -> web.FileResponse:
    return _asset("review.js", "text/javascript; charset=utf-8")


@routes.get("/console/review.css")
async def review_style(request: web.Request) -> web.FileResponse:
    return _asset("review.css", "text/css; charset=utf-8")


@routes.get("/console/review-stats.js")
async def review_stats_script(request: web.Request) -> web.FileResponse:
    """The dashboard's per-agent monthly knowledge counts (dashboard.html loads it)."""
    return _asset("review-stats.js", "text/javascript; charset=utf-8")


def _asset(name: str, content_type: str) -> web.FileResponse:
    return web.FileResponse(
        STATIC / name,
        headers={
            "Content-Type": content_type,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


# -- helpers -------------------------------------------------------------------------------------
def _ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def _desk(request: web.Request) -> ReviewDesk:
    kb = request.app[CONSOLE].kb
    desk = _desks.get(kb)
    if desk is None:
        desk = _desks[kb] = ReviewDesk(kb)
    return desk


async def _run(fn: Any, *args: Any) -> Any:
    """A desk move in a thread; its refusals as HTTP answers with the reason."""
    try:
        return await asyncio.to_thread(fn, *args)
    except StaleEdit as exc:
        raise web.HTTPConflict(text=str(exc)) from exc
    except InvalidText as exc:
        raise InputError(str(exc)) from exc
    except NotUnderReview as exc:
        raise web.HTTPNotFound(text=str(exc)) from exc
    except KnowledgeError as exc:  # the wrong status for this move
        raise web.HTTPConflict(text=str(exc)) from exc


def _author(events: list[KnowledgeEventRecord]) -> str | None:
    """Who wrote the text now under review: the latest contribution or proposed change."""
    for e in reversed(events):
        if e.action in ("contributed", "revised"):
            return e.username
    return None


def _event_json(e: KnowledgeEventRecord) -> dict[str, Any]:
    return {
        "action": e.action,
        "username": e.username,
        "version": e.version,
        "reason": e.reason,
        "at": e.created_at,
    }


def _summary(cand: Candidate, events: list[KnowledgeEventRecord]) -> dict[str, Any]:
    a = cand.article
    decided = [i for i, e in enumerate(events) if e.action in ("approved", "rejected")]
    decision = events[decided[-1]] if decided else None
    # Resubmitted since: the decision was about an earlier text.
    superseded = bool(decided) and any(e.action == "submitted" for e in events[decided[-1] :])
    return {
        "id": a.id,
        "title": a.title,
        "category": a.category,
        "language": a.language,
        "status": a.status,
        "kind": cand.kind,
        "updated": a.updated.isoformat(),
        "published_version": cand.published.version if cand.published else None,
        "author": _author(events),
        "last_decision": {**_event_json(decision), "superseded": superseded} if decision else None,
        "hash": a.content_hash,
    }


def _text(article: Article | None) -> dict[str, Any] | None:
    if article is None:
        return None
    return {
        "title": article.title,
        "body": article.body,
        "questions": list(article.questions),
        "tags": list(article.tags),
        "version": article.version,
        "updated": article.updated.isoformat(),
        "status": article.status,
        "hash": article.content_hash,
    }


def _may_edit(agent: AgentRecord, cand: Candidate) -> bool:
    return cand.article.status == "draft" or agent.role in SUPERVISORS


async def _detail(request: web.Request, agent: AgentRecord, cand: Candidate) -> dict[str, Any]:
    store = request.app[CONSOLE].store
    events = await store.knowledge_events.of(cand.id)
    versions = await asyncio.to_thread(_desk(request).kb.versions, cand.id)
    return {
        **_summary(cand, events),
        "article": _text(cand.article),
        "published": _text(cand.published),
        "diff": diff(cand),
        "events": [_event_json(e) for e in events],
        "versions": [
            {"version": v.version, "updated": v.updated, "note": v.note} for v in versions
        ],
        "may_edit": _may_edit(agent, cand),
        "may_decide": agent.role in SUPERVISORS and cand.article.status == "review",
        "may_discard": _may_discard(agent, cand, events),
    }


def _may_discard(agent: AgentRecord, cand: Candidate, events: list[KnowledgeEventRecord]) -> bool:
    own_draft = cand.article.status == "draft" and _author(events) == agent.username
    return agent.role in SUPERVISORS or own_draft


async def _record(
    request: web.Request,
    agent: AgentRecord,
    article: Article,
    action: str,
    *,
    author: str | None = None,
    reason: str | None = None,
) -> None:
    await request.app[CONSOLE].store.knowledge_events.record(
        article.id,
        action,
        agent_id=agent.id,
        username=agent.username,
        title=article.title,
        version=article.version,
        author=author,
        reason=reason,
    )


async def _optional_object(request: web.Request, allowed: set[str]) -> dict[str, Any]:
    """A JSON object body, or {} when the request has none (a bare POST is a plain move)."""
    if not (await request.read()).strip():
        return {}
    return await read_object(request, allowed=allowed, required=set())


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InputError(f"'{name}' must be a string")
    return value


def _strings(body: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"'{name}' must be a list of strings")
    return tuple(value)


# -- the queue and one candidate -----------------------------------------------------------------
@routes.get("/api/review/items")
async def items(request: web.Request) -> web.Response:
    await require_agent(request)
    pending: list[Candidate] = await asyncio.to_thread(_desk(request).pending)
    events = await request.app[CONSOLE].store.knowledge_events.latest(c.id for c in pending)
    return _ok({"items": [_summary(c, events.get(c.id, [])) for c in pending]})


@routes.get(f"/api/review/items/{ARTICLE_ID}")
async def item(request: web.Request) -> web.Response:
    agent = await require_agent(request)
    cand = await _run(_desk(request).candidate, request.match_info["article_id"])
    return _ok(await _detail(request, agent, cand))


@routes.post(f"/api/review/items/{ARTICLE_ID}/edit")
async def edit(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    body = await read_object(
        request, allowed={"title", "body", "questions", "tags", "base"}, required=set()
    )
    changes = Changes(
        title=_string(body, "title"),
        body=_string(body, "body"),
        questions=_strings(body, "questions"),
        tags=_strings(body, "tags"),
    )
    if changes == Changes():
        raise InputError("nothing to change; send title, body, questions or tags")
    desk = _desk(request)
    cand: Candidate = await _run(desk.candidate, request.match_info["article_id"])
    if not _may_edit(agent, cand):
        raise web.HTTPForbidden(text="only supervisors and admins edit an article in review")
    updated: Candidate = await _run(desk.edit, cand.id, changes, _string(body, "base"))
    await _record(request, agent, updated.article, "edited")
    return _ok(await _detail(request, agent, updated))


@routes.post(f"/api/review/items/{ARTICLE_ID}/submit")
async def submit(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    cand: Candidate = await _run(_desk(request).submit, request.match_info["article_id"])
    await _record(request, agent, cand.article, "submitted")
    return _ok(await _detail(request, agent, cand))


@routes.post(f"/api/review/items/{ARTICLE_ID}/approve")
async def approve(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    require_supervisor(agent)
    body = await _optional_object(request, allowed={"base"})
    article_id = request.match_info["article_id"]
    events = await request.app[CONSOLE].store.knowledge_events.of(article_id)
    published: Article = await _run(_desk(request).approve, article_id, _string(body, "base"))
    await _record(request, agent, published, "approved", author=_author(events))
    return _ok(
        {
            "published": {
                "id": published.id,
                "version": published.version,
                "updated": published.updated.isoformat(),
                "path": _relative(request, published.path),
            }
        }
    )


@routes.post(f"/api/review/items/{ARTICLE_ID}/reject")
async def reject(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    require_supervisor(agent)
    body = await read_object(request, allowed={"reason"}, required={"reason"})
    reason = _string(body, "reason")
    if reason is None or not reason.strip():
        raise InputError("'reason' must say what to change, so the author can fix it")
    if len(reason) > MAX_REASON_CHARS:
        raise InputError(f"'reason' is over {MAX_REASON_CHARS} characters")
    cand: Candidate = await _run(_desk(request).reject, request.match_info["article_id"])
    await _record(request, agent, cand.article, "rejected", reason=reason.strip())
    return _ok(await _detail(request, agent, cand))


@routes.post(f"/api/review/items/{ARTICLE_ID}/discard")
async def discard(request: web.Request) -> web.Response:
    """Drop a draft or a proposed change: supervisors, or the author while it is a draft."""
    agent = await require_agent(request, write=True)
    body = await _optional_object(request, allowed={"reason"})
    reason = _string(body, "reason")
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise InputError(f"'reason' is over {MAX_REASON_CHARS} characters")
    desk = _desk(request)
    article_id = request.match_info["article_id"]
    cand: Candidate = await _run(desk.candidate, article_id)
    events = await request.app[CONSOLE].store.knowledge_events.of(article_id)
    if not _may_discard(agent, cand, events):
        raise web.HTTPForbidden(
            text="only supervisors and admins, or the author of a draft, discard it"
        )
    dropped: Candidate = await _run(desk.discard, article_id)
    await _record(
        request, agent, dropped.article, "discarded", reason=(reason or "").strip() or None
    )
    return _ok({"discarded": {"id": article_id, "kind": dropped.kind}})


def _relative(request: web.Request, path: str) -> str:
    root = _desk(request).root
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return Path(path).name


# -- published articles: propose a change ------------------------------------------------------
@routes.get("/api/review/articles")
async def articles(request: web.Request) -> web.Response:
    await require_agent(request)
    query = request.query.get("q", "")
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(f"'q' is over {MAX_QUERY_CHARS} characters")
    found: list[Article] = await asyncio.to_thread(_desk(request).published_articles, query)
    return _ok(
        {
            "articles": [
                {"id": a.id, "title": a.title, "language": a.language, "version": a.version}
                for a in found
            ]
        }
    )


@routes.post(f"/api/review/articles/{ARTICLE_ID}/revise")
async def revise(request: web.Request) -> web.Response:
    agent = await require_agent(request, write=True)
    cand: Candidate = await _run(_desk(request).revise, request.match_info["article_id"])
    await _record(request, agent, cand.article, "revised")
    return _ok(await _detail(request, agent, cand), status=201)


# -- contributions per agent and month -----------------------------------------------------------
@routes.get("/api/review/contributions")
async def contributions(request: web.Request) -> web.Response:
    require_supervisor(await require_agent(request))
    today = clock.now().date()
    last = _month(request.query.get("to"), "to") or today.replace(day=1)
    first = _month(request.query.get("from"), "from") or _add_months(last, -5)
    if first > last:
        raise InputError("'from' is after 'to'")
    if _months_between(first, last) >= MAX_MONTHS:
        raise InputError(f"at most {MAX_MONTHS} months at a time")
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    end_month = _add_months(last, 1)
    end = datetime(end_month.year, end_month.month, 1, tzinfo=UTC)
    rows = await request.app[CONSOLE].store.knowledge_events.monthly(start, end)
    return _ok(
        {
            "from": f"{first:%Y-%m}",
            "to": f"{last:%Y-%m}",
            "rows": [
                {
                    "month": r.month,
                    "username": r.username,
                    "contributed": r.contributed,
                    "reviewed": r.reviewed,
                    "published": r.published,
                }
                for r in rows
            ],
        }
    )


def _month(value: str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError as exc:
        raise InputError(f"'{name}' must be a month such as 2026-11") from exc


def _add_months(d: date, n: int) -> date:
    index = d.year * 12 + d.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _months_between(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month
