"""The service metrics, as plain functions of conversation facts. Each definition is written
down here once; the dashboard, the monthly report and the tests all use these.

- **Containment**: share of conversations with no handoff.
- **Escalation rate**: share with at least one handoff; reasons counted per handoff.
- **First response time (bot)**: first customer message to the bot's first reply.
- **First response time (human)**: a handoff's queueing to the agent's first reply; against the
  SLA (config `console.first_response_sla_seconds`, 30 s for chat).
- **SLA breach**: a handoff whose first agent reply came later than the SLA, or never came
  while it waited longer than the SLA.
- **Time to resolution**: conversation start to its close (resolved by an agent), or to the
  bot's last message for a conversation the bot kept.
- **First-contact resolution**: a resolved or bot-kept conversation after which the same
  customer opened no conversation on the same topic within `fcr_days` (7).
- **CSAT**: share of ratings that are 4 or 5; mean rating on 0-100 ((score - 1) / 4 * 100).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from bot.analytics.facts import SOCIAL, UNKNOWN, ConversationFacts, HandoffFacts

SLICES = ("channel", "skill_group", "agent", "language")
GRANULARITIES = ("day", "week", "month")
FRT_BUCKETS_S = (5, 10, 15, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class Settings:
    sla_seconds: float = 30.0
    fcr_days: float = 7.0


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return (b - a).total_seconds() if a is not None and b is not None else None


def _share(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 2)


def bot_first_response_s(c: ConversationFacts) -> float | None:
    return _seconds(c.first_customer_at, c.first_bot_at)


def human_first_response_s(h: HandoffFacts) -> float | None:
    return _seconds(h.queued_at, h.first_agent_reply_at)


def breached(h: HandoffFacts, settings: Settings, now: datetime) -> bool:
    """The first agent reply came after the SLA, or none came and the customer waited longer."""
    waited = human_first_response_s(h)
    if waited is None:
        if h.status in ("queued", "assigned"):  # still waiting
            waited = (now - h.queued_at).total_seconds()
        else:  # returned to the bot, resolved or abandoned without a reply
            waited = _seconds(h.queued_at, h.resolved_at or h.assigned_at)
    return waited is not None and waited > settings.sla_seconds


def resolution_s(c: ConversationFacts) -> float | None:
    if c.resolved:
        return _seconds(c.created_at, c.closed_at)
    if not c.escalated:
        return _seconds(c.created_at, c.last_message_at)
    return None


def first_contact_resolved(
    conversations: Sequence[ConversationFacts], settings: Settings
) -> dict[str, bool]:
    """For each finished conversation (resolved, or kept by the bot): no return on the same
    topic within fcr_days. Conversations still open are left out."""
    by_customer: dict[str, list[ConversationFacts]] = defaultdict(list)
    for c in conversations:
        by_customer[c.customer_id].append(c)
    window = timedelta(days=settings.fcr_days)
    out: dict[str, bool] = {}
    for convs in by_customer.values():
        convs.sort(key=lambda c: c.created_at)
        for i, c in enumerate(convs):
            finished = c.resolved or (not c.escalated and c.last_message_at is not None)
            if not finished:
                continue
            end = c.closed_at or c.last_message_at or c.created_at
            topic = c.topic
            returned = any(
                later.created_at - end <= window and (topic is None or later.topic == topic)
                for later in convs[i + 1 :]
                if later.created_at >= c.created_at
            )
            out[c.id] = not returned
    return out


def headline(
    convs: Sequence[ConversationFacts],
    settings: Settings,
    now: datetime,
    fcr: dict[str, bool] | None = None,
) -> dict[str, Any]:
    """The figures a manager reads first, for any set of conversations."""
    n = len(convs)
    escalated = [c for c in convs if c.escalated]
    handoffs = [h for c in convs for h in c.handoffs]
    bot_frt = [v for c in convs if (v := bot_first_response_s(c)) is not None]
    human_frt = [v for h in handoffs if (v := human_first_response_s(h)) is not None]
    ttr = [v for c in convs if (v := resolution_s(c)) is not None]
    ratings = [c.rating for c in convs if c.rating is not None]
    fcr = fcr if fcr is not None else first_contact_resolved(convs, settings)
    finished = [fcr[c.id] for c in convs if c.id in fcr]
    return {
        "conversations": n,
        "contained": n - len(escalated),
        "containment_rate": _share(n - len(escalated), n),
        "escalation_rate": _share(len(escalated), n),
        "handoffs": len(handoffs),
        "bot_first_response_p50_s": _pct(bot_frt, 0.5),
        "bot_first_response_p90_s": _pct(bot_frt, 0.9),
        "human_first_response_p50_s": _pct(human_frt, 0.5),
        "human_first_response_p90_s": _pct(human_frt, 0.9),
        "human_within_sla_rate": _share(
            sum(v <= settings.sla_seconds for v in human_frt), len(human_frt)
        ),
        "sla_breaches": sum(breached(h, settings, now) for h in handoffs),
        "resolution_p50_s": round(median(ttr), 2) if ttr else None,
        "first_contact_resolution_rate": _share(sum(finished), len(finished)),
        "ratings": len(ratings),
        "csat_rate": _share(sum(r >= 4 for r in ratings), len(ratings)),
        "csat_mean_100": round(sum((r - 1) / 4 * 100 for r in ratings) / len(ratings), 1)
        if ratings
        else None,
    }


def bucket_of(at: datetime, granularity: str) -> str:
    if granularity == "day":
        return at.date().isoformat()
    if granularity == "week":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    if granularity == "month":
        return f"{at.year}-{at.month:02d}"
    raise ValueError(f"granularity {granularity!r}; one of {', '.join(GRANULARITIES)}")


def slice_key(c: ConversationFacts, dimension: str) -> str:
    if dimension == "channel":
        return c.channel
    if dimension == "language":
        return c.language
    if dimension == "skill_group":
        return c.skill_group or "(bot)"
    if dimension == "agent":
        return c.agent or ("(unassigned)" if c.escalated else "(bot)")
    raise ValueError(f"slice {dimension!r}; one of {', '.join(SLICES)}")


def grouped(
    convs: Sequence[ConversationFacts],
    key: Callable[[ConversationFacts], str],
    settings: Settings,
    now: datetime,
    fcr: dict[str, bool],
) -> list[dict[str, Any]]:
    groups: dict[str, list[ConversationFacts]] = defaultdict(list)
    for c in convs:
        groups[key(c)].append(c)
    return [{"key": k, **headline(v, settings, now, fcr)} for k, v in sorted(groups.items())]


def escalation_reasons(convs: Iterable[ConversationFacts]) -> list[dict[str, Any]]:
    counts = Counter(h.reason for c in convs for h in c.handoffs)
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda x: (-x[1], x[0]))
    return [{"reason": r, "count": n, "share": _share(n, total)} for r, n in ranked]


def histogram(
    values: Sequence[float], edges: Sequence[float] = FRT_BUCKETS_S
) -> list[dict[str, Any]]:
    """Counts per bucket: (previous edge, edge], and over the last edge (`le` None)."""
    counts = [0] * (len(edges) + 1)
    for v in values:
        counts[bisect_left(edges, v)] += 1
    return [{"le": e, "count": n} for e, n in zip([*edges, None], counts, strict=True)]


def top_problems(
    convs: Iterable[ConversationFacts], k: int = 10
) -> dict[str, list[dict[str, Any]]]:
    """The intents customers came with (social ones left out) and the knowledge categories
    they were answered from."""
    intents: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for c in convs:
        # Unknown intents are no problem anyone can name; the knowledge gaps show those.
        intents.update({i: n for i, n in c.intents.items() if i not in SOCIAL | UNKNOWN})
        categories.update(c.categories)

    def top(counts: Counter[str]) -> list[tuple[str, int]]:  # ties in name order: stable
        return sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:k]

    return {
        "intents": [{"intent": i, "count": n} for i, n in top(intents)],
        "categories": [{"category": c, "count": n} for c, n in top(categories)],
    }


def sla_breaches(
    convs: Iterable[ConversationFacts], settings: Settings, now: datetime, limit: int = 100
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for c in convs:
        for h in c.handoffs:
            if breached(h, settings, now):
                waited = human_first_response_s(h)
                rows.append(
                    {
                        "conversation_id": c.id,
                        "queued_at": h.queued_at,
                        "skill_group": h.skill_group,
                        "agent": h.agent,
                        "channel": c.channel,
                        "first_response_s": round(waited, 1) if waited is not None else None,
                    }
                )
    rows.sort(key=lambda r: -(r["first_response_s"] or 1e12))
    return rows[:limit]
