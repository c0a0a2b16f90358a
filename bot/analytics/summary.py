"""One period's analytics, as the dashboard and the monthly report show them."""

from __future__ import annotations

import asyncio
import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot import clock
from bot.analytics.facts import ConversationFacts, agent_names, read_facts
from bot.analytics.inputs import analyser_of, categories_of, embedder_of
from bot.analytics.metrics import (
    GRANULARITIES,
    SLICES,
    Settings,
    bot_first_response_s,
    bucket_of,
    escalation_reasons,
    first_contact_resolved,
    grouped,
    headline,
    histogram,
    human_first_response_s,
    low_ratings,
    sla_breaches,
    slice_key,
    top_problems,
)
from bot.analytics.topics import Analyse, Embed, comment_sentiment, group_gaps, key_phrases
from bot.config import Config
from bot.errors import InputError
from bot.nlu.pipeline import NLUPipeline
from bot.store.engine import Database

MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive

    @classmethod
    def month(cls, text: str) -> Period:
        if not re.fullmatch(r"\d{4}-\d{2}", text or ""):
            raise InputError(f"month {text!r}: write it as YYYY-MM, e.g. 2026-11")
        year, month = int(text[:4]), int(text[5:])
        if not 1 <= month <= 12:
            raise InputError(f"month {text!r}: the month must be 01 to 12")
        last = calendar.monthrange(year, month)[1]
        start = datetime(year, month, 1, tzinfo=UTC)
        return cls(start, start + timedelta(days=last))

    @classmethod
    def days(cls, first: str, last: str) -> Period:
        """From the start of `first` to the end of `last` (ISO dates, UTC)."""
        try:
            a, b = date.fromisoformat(first), date.fromisoformat(last)
        except ValueError as exc:
            raise InputError(f"dates are YYYY-MM-DD: {exc}") from exc
        if b < a:
            raise InputError("'to' is before 'from'")
        if (b - a).days >= MAX_DAYS:
            raise InputError(f"a period is at most {MAX_DAYS} days")
        start = datetime(a.year, a.month, a.day, tzinfo=UTC)
        return cls(start, datetime(b.year, b.month, b.day, tzinfo=UTC) + timedelta(days=1))


def settings_of(config: Config) -> Settings:
    """The metric settings a configuration implies: its first-response SLA and its bot
    session expiry (the same expiry the store closes bot conversations by)."""
    minutes = config.dialogue.session_expiration_minutes
    return Settings(
        sla_seconds=config.console.first_response_sla_seconds,
        session_expiry_s=minutes * 60 if minutes else None,
    )


async def summary_for(
    config: Config,
    db: Database,
    period: Period,
    *,
    nlu: NLUPipeline | None,
    granularity: str = "day",
    filters: dict[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The period's figures as this configuration defines them: the one entry point of the
    dashboard (handoff/console/dashboard.py) and `relaydesk report`, so they cannot differ."""
    categories = await asyncio.to_thread(categories_of, Path(config.path(config.knowledge.path)))
    return await summarize(
        db,
        period,
        settings=settings_of(config),
        granularity=granularity,
        categories=categories,
        embed=embedder_of(nlu),
        analyse=analyser_of(nlu),
        now=now,
        filters=filters,
    )


async def summarize(
    db: Database,
    period: Period,
    *,
    settings: Settings | None = None,
    granularity: str = "day",
    categories: dict[str, str] | None = None,
    embed: Embed | None = None,
    analyse: Analyse | None = None,
    now: datetime | None = None,
    filters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Every figure of the period. `filters` keeps only conversations whose slice value matches
    (e.g. {"channel": "web"})."""
    settings = settings or Settings()
    if granularity not in GRANULARITIES:
        raise InputError(f"granularity {granularity!r}; one of {', '.join(GRANULARITIES)}")
    for key in filters or {}:
        if key not in SLICES:
            raise InputError(f"filter {key!r}; one of {', '.join(SLICES)}")
    now = now or clock.now()
    lookahead = timedelta(days=settings.fcr_days)
    everything = await read_facts(
        db, period.start, period.end, lookahead=lookahead, categories=categories
    )
    fcr = first_contact_resolved(everything, settings, now)  # sees returns after the period too
    convs = [c for c in everything if c.created_at < period.end and _keep(c, filters)]
    names = await agent_names(db)
    handoffs = [h for c in convs for h in c.handoffs]
    comments = [c for c in convs if c.rating_comment.strip()]
    return {
        "period": {"from": period.start, "to": period.end, "granularity": granularity},
        "filters": filters or {},
        "settings": {
            "sla_seconds": settings.sla_seconds,
            "fcr_days": settings.fcr_days,
            "session_expiry_s": settings.session_expiry_s,
        },
        "now": now,
        # Username -> display name, for the agent slice and filter (keyed by the username).
        "agents": {u: names.get(u, u) for u in _agents(everything)},
        "totals": headline(convs, settings, now, fcr),
        "series": grouped(
            convs, lambda c: bucket_of(c.created_at, granularity), settings, now, fcr
        ),
        "slices": {
            d: grouped(convs, lambda c, d=d: slice_key(c, d), settings, now, fcr)  # type: ignore[misc]
            for d in SLICES
        },
        "escalation_reasons": escalation_reasons(convs),
        "first_response": {
            "sla_seconds": settings.sla_seconds,
            "bot": histogram([v for c in convs if (v := bot_first_response_s(c)) is not None]),
            "human": histogram(
                [v for h in handoffs if (v := human_first_response_s(h)) is not None]
            ),
        },
        "top_problems": top_problems(convs),
        "knowledge_gaps": [
            g.to_dict() for g in group_gaps([q for c in convs for q in c.gaps], embed)
        ],
        "comments": {
            "count": len(comments),
            "sentiment": comment_sentiment([c.rating_comment for c in comments], analyse),
            "phrases": {
                lang: key_phrases([c.rating_comment for c in comments if _lang(c) == lang], lang)
                for lang in ("zh", "en")
            },
        },
        "sla_breaches": sla_breaches(convs, settings, now, names=names),
        "low_ratings": low_ratings(convs, names),
    }


def _agents(convs: list[ConversationFacts]) -> set[str]:
    return {h.agent for c in convs for h in c.handoffs if h.agent}


def _keep(c: ConversationFacts, filters: dict[str, str] | None) -> bool:
    return all(slice_key(c, k) == v for k, v in (filters or {}).items())


def _lang(c: ConversationFacts) -> str:
    """A comment's language from its characters (the conversation's may differ)."""
    han = sum("\u4e00" <= ch <= "\u9fff" for ch in c.rating_comment)
    return "zh" if han else "en"
