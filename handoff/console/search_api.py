"""Searching past conversations from the console: `GET /api/agent/search?q=&limit=&before=`.

An agent finds only what they may open: the same rule as reading a conversation
(`agent_api.may_see`: their skill groups' waiting chats, chats they hold or held; supervisors
and admins everything). The transcript of a hit opens with the console's own
`GET /api/agent/conversations/{cid}`, which applies that rule to closed conversations too.

A refused request answers 400 with the console API's error shape (`"code": 400`) and a stable
`error` the console turns into its own zh/en text: `missing_query`, `query_too_long`,
`no_words`, `invalid_limit`, `invalid_cursor`.
"""

from __future__ import annotations

from aiohttp import web

from bot.errors import InputError
from bot.http.errors import refuse
from bot.store.conversation_search import BadCursorError
from bot.store.records import ConversationRecord
from handoff.console.agent_api import dumps, may_see, sees_all
from handoff.console.auth import require_agent
from handoff.console.services import CONSOLE

routes = web.RouteTableDef()
MAX_QUERY_CHARS = 200
MAX_LIMIT = 50
DEFAULT_LIMIT = 20
MAX_CURSOR_CHARS = 500


def _refuse(error: str, message: str) -> web.HTTPError:
    return refuse(web.HTTPBadRequest, error, message)


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise _refuse("invalid_limit", f"'limit' must be a whole number from 1 to {MAX_LIMIT}")
    return value


@routes.get("/api/agent/search")
async def search(request: web.Request) -> web.Response:
    """Conversations matching `q`, best and newest first, a page of `limit` after `before`."""
    agent = await require_agent(request)
    q = request.query.get("q", "").strip()
    if not q:
        raise _refuse("missing_query", "'q' is required: the words to look for")
    if len(q) > MAX_QUERY_CHARS:
        raise _refuse("query_too_long", f"'q' is over {MAX_QUERY_CHARS} characters")
    limit = _limit(request.query.get("limit"))
    before = request.query.get("before") or None
    if before is not None and len(before) > MAX_CURSOR_CHARS:
        raise _refuse("invalid_cursor", "'before' is not a cursor this search handed out")
    store = request.app[CONSOLE].handoff.store

    async def allow(conv: ConversationRecord) -> bool:
        return await may_see(store, agent, conv)

    try:
        page = await store.conversation_search.search(
            q, limit=limit, before=before, allow=None if sees_all(agent) else allow
        )
    except BadCursorError as exc:
        raise _refuse("invalid_cursor", str(exc)) from exc
    except InputError as exc:
        raise _refuse("no_words", str(exc)) from exc
    return web.json_response(
        {
            "results": [hit.to_json() for hit in page.results],
            "next": page.next,
            "terms": list(page.terms),
        },
        dumps=dumps,
    )
