"""The supervisor dashboard: its page and the analytics behind it, as JSON and as CSV.

    GET /console/dashboard
    GET /api/supervisor/analytics?from=2026-11-01&to=2026-11-30&granularity=day[&channel=web...]
    GET /api/supervisor/analytics.csv?table=series&from=...&to=...
    GET /api/dashboard/proactive?from=2026-11-01&to=2026-11-30
    GET /console/proactive-dashboard.js

Supervisors and admins only. A summary is cached for a minute per query: reading a month of
events and grouping its gaps takes a second or two, and a dashboard is reloaded often. The
proactive-contact figures are one grouped count over the proactive ledger, read fresh each time.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.analytics.inputs import COLUMNS, CSV_TABLES, table, to_csv
from bot.analytics.metrics import SLICES
from bot.analytics.proactive import proactive_figures
from bot.analytics.summary import Period, summary_for
from bot.errors import InputError
from bot.http.keys import CONFIG
from handoff.console.agent_api import dumps
from handoff.console.auth import require_agent, require_supervisor
from handoff.console.services import CONSOLE

routes = web.RouteTableDef()
Cache = dict[str, tuple[float, dict[str, Any]]]
CACHE = web.AppKey("analytics_cache", Cache)
STATIC = Path(__file__).resolve().parent / "static"
CACHE_S = 60.0
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@routes.get("/console/dashboard")
async def dashboard_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC / "dashboard.html",
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
    )


def _asset(name: str, content_type: str) -> web.FileResponse:
    return web.FileResponse(
        STATIC / name, headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
    )


@routes.get("/console/dashboard.js")
async def dashboard_script(request: web.Request) -> web.FileResponse:
    return _asset("dashboard.js", "text/javascript; charset=utf-8")


@routes.get("/console/dashboard.css")
async def dashboard_style(request: web.Request) -> web.FileResponse:
    return _asset("dashboard.css", "text/css; charset=utf-8")


@routes.get("/console/proactive-dashboard.js")
async def proactive_script(request: web.Request) -> web.FileResponse:
    return _asset("proactive-dashboard.js", "text/javascript; charset=utf-8")


QUERY_KEYS = {"from", "to", "granularity", "table", *SLICES}


def _period(request: web.Request, allowed: set[str]) -> Period:
    """The period of `from` and `to` (UTC dates, `to` included; the last 30 days by default)."""
    q = request.query
    unknown = set(q) - allowed
    if unknown:  # a typo must not quietly show unfiltered figures
        raise InputError(
            f"unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    for key in ("from", "to"):
        if len(q.get(key, "")) > 10:
            raise InputError(f"{key}: a date such as 2026-11-30 (YYYY-MM-DD)")
    today = datetime.now(UTC).date()
    first = q.get("from") or (today - timedelta(days=29)).isoformat()
    last = q.get("to") or today.isoformat()
    return Period.days(first, last)


def _query(request: web.Request) -> tuple[Period, str, dict[str, str]]:
    q = request.query
    period = _period(request, QUERY_KEYS)
    granularity = q.get("granularity", "day")
    filters = {k: q[k] for k in SLICES if q.get(k)}
    for value in filters.values():
        if len(value) > 100:
            raise InputError("a filter value is at most 100 characters")
    return period, granularity, filters


async def _summary(request: web.Request) -> dict[str, Any]:
    agent = await require_agent(request)
    require_supervisor(agent)
    period, granularity, filters = _query(request)
    key = json.dumps([period.start.isoformat(), period.end.isoformat(), granularity, filters])
    cache = request.app[CACHE]
    hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < CACHE_S:
        return hit[1]
    services = request.app[CONSOLE]
    # The same computation as `relaydesk report` (bot/cli/report.py): one definition of each figure.
    result = await summary_for(
        request.app[CONFIG],
        services.store.db,
        period,
        nlu=services.nlu,
        granularity=granularity,
        filters=filters,
    )
    if len(cache) > 64:
        cache.clear()
    cache[key] = (time.monotonic(), result)
    return result


@routes.get("/api/supervisor/analytics")
async def analytics(request: web.Request) -> web.Response:
    result = await _summary(request)
    return web.json_response(result, dumps=dumps)


@routes.get("/api/supervisor/analytics.csv")
async def analytics_csv(request: web.Request) -> web.Response:
    require_supervisor(await require_agent(request))
    name = request.query.get("table", "series")
    if name not in CSV_TABLES:
        raise InputError(f"table {name!r}; one of {', '.join(CSV_TABLES)}")
    result = await _summary(request)
    period = result["period"]
    last_day = period["to"] - timedelta(days=1)
    filename = f"relaydesk-{name}-{period['from']:%Y%m%d}-{last_day:%Y%m%d}.csv"
    return web.Response(
        # A byte-order mark, so spreadsheet programs read the Chinese text as UTF-8.
        body=("\ufeff" + to_csv(table(result, name), COLUMNS[name])).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@routes.get("/api/dashboard/proactive")
async def proactive(request: web.Request) -> web.Response:
    """The period's proactive contact: sent, suppressed by reason, delivered, replied,
    converted, participation rate (bot/analytics/proactive.py, as `relaydesk report`)."""
    require_supervisor(await require_agent(request))
    period = _period(request, {"from", "to"})
    store = request.app[CONSOLE].store
    result = await proactive_figures(store.proactive, period.start, period.end)
    return web.json_response(result, dumps=dumps)
