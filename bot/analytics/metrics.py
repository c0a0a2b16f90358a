"""The service metrics, as plain functions of conversation facts. Each definition is written
down here once; the dashboard, the monthly report and the tests all use these.

A conversation is **closed** when the store says it ended: `conversations.closed_at` is set (an
agent resolved its handoff, or the store closed an expired bot session), or it is a bot
conversation idle for longer than the session expiry (config
`dialogue.session_expiration_minutes`, 60): the store closes those lazily, at their last
activity (`updated_at`), when the customer next writes, so they are closed at that moment here
too. Everything else is **open** (with the bot and not yet expired, queued, with an agent) and
counted apart; no figure about outcomes takes "now" as an end.

- **Containment**: share of closed conversations with no handoff.
- **Escalation rate**: share of closed conversations with at least one handoff; handoffs and
  their reasons are counted in every conversation, open ones included.
- **First response time (bot)**: first customer message to the bot's first reply.
- **First response time (human)**: a handoff's queueing to the agent's first reply; against the
  SLA (config `console.first_response_sla_seconds`, 30 s for chat).
- **SLA breach**: a handoff whose first agent reply came later than the SLA, or never came
  while it waited longer than the SLA (a handoff still waiting counts once it has waited that
  long: the breach has happened, whatever comes next).
- **Time to resolution**: a closed conversation's start to its close.
- **First-contact resolution**: a closed conversation after which the same customer opened no
  conversation on the same topic within `fcr_days` (7). Counted once those days have passed;
  until then it is pending, neither resolved nor not.
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
    # A bot conversation idle this long has ended (None: bot sessions never expire).
    session_expiry_s: float | None = 3600.0


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


def ended_at(c: ConversationFacts, settings: Settings, now: datetime) -> datetime | None:
    """When the conversation closed, or None while it is open (see the module's docstring)."""
    if c.closed_at is not None:
        return c.closed_at
    if c.status in ("resolved", "closed"):  # closed without a time: its last change
        return c.updated_at or c.last_message_at or c.created_at
    expiry = settings.session_expiry_s
    if c.status == "bot" and expiry is not None and expiry > 0:
        last = c.updated_at or c.last_message_at or c.created_at
        if (now - last).total_seconds() > expiry:
            return last
    return None


def resolution_s(c: ConversationFacts, settings: Settings, now: datetime) -> float | None:
    """Start to close, for a closed conversation; None while it is open."""
    return _seconds(c.created_at, ended_at(c, settings, now))


def first_contact_resolved(
    conversations: Sequence[ConversationFacts], settings: Settings, now: datetime
) -> dict[str, bool]:
    """For each closed conversation whose `fcr_days` have passed since it closed: whether the
    customer stayed away from its topic for those days. Open conversations, and closed ones
    still inside their window, are left out (`first_contact_pending` counts the latter)."""
    by_customer: dict[str, list[ConversationFacts]] = defaultdict(list)
    for c in conversations:
        by_customer[c.customer_id].append(c)
    window = timedelta(days=settings.fcr_days)
    out: dict[str, bool] = {}
    for convs in by_customer.values():
        convs.sort(key=lambda c: c.created_at)
        for i, c in enumerate(convs):
            end = ended_at(c, settings, now)
            if end is None or now - end < window:
                continue
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
    closed = [c for c in convs if ended_at(c, settings, now) is not None]
    contained = [c for c in closed if not c.escalated]
    handoffs = [h for c in convs for h in c.handoffs]
    bot_frt = [v for c in convs if (v := bot_first_response_s(c)) is not None]
    human_frt = [v for h in handoffs if (v := human_first_response_s(h)) is not None]
    ttr = [v for c in closed if (v := resolution_s(c, settings, now)) is not None]
    ratings = [c.rating for c in convs if c.rating is not None]
    fcr = fcr if fcr is not None else first_contact_resolved(convs, settings, now)
    decided = [fcr[c.id] for c in closed if c.id in fcr]
    return {
        "conversations": n,
        "closed": len(closed),
        "open": n - len(closed),
        "contained": len(contained),
        "containment_rate": _share(len(contained), len(closed)),
        "escalation_rate": _share(len(closed) - len(contained), len(closed)),
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
        "resolution_p90_s": _pct(ttr, 0.9),
        "first_contact_resolution_rate": _share(sum(decided), len(decided)),
        "first_contact_counted": len(decided),
        "first_contact_pending": len(closed) - len(decided),
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


def _agent(username: str | None, names: dict[str, str]) -> dict[str, str | None]:
    return {"agent": username, "agent_name": names.get(username, username) if username else None}


def sla_breaches(
    convs: Iterable[ConversationFacts],
    settings: Settings,
    now: datetime,
    limit: int = 100,
    names: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The breaching handoffs, longest wait first, each with what a supervisor needs to open
    the transcript and recognise it: the customer, channel, time and the agent's name."""
    rows: list[dict[str, Any]] = []
    for c in convs:
        for h in c.handoffs:
            if breached(h, settings, now):
                waited = human_first_response_s(h)
                waiting = waited is None and h.status in ("queued", "assigned")
                rows.append(
                    {
                        "conversation_id": c.id,
                        "customer_id": c.customer_id,
                        "customer_name": c.customer_name,
                        "channel": c.channel,
                        "queued_at": h.queued_at,
                        "skill_group": h.skill_group,
                        **_agent(h.agent, names or {}),
                        "first_response_s": round(waited, 1) if waited is not None else None,
                        "waiting": waiting,
                    }
                )
    rows.sort(key=lambda r: -(r["first_response_s"] or 1e12))
    return rows[:limit]


def low_ratings(
    convs: Iterable[ConversationFacts],
    names: dict[str, str] | None = None,
    limit: int = 50,
    worst: int = 2,
) -> list[dict[str, Any]]:
    """Ratings of `worst` stars or fewer, newest first: the transcripts a supervisor reads."""
    rated = sorted(
        (c for c in convs if c.rating is not None and c.rating <= worst),
        key=lambda c: c.rated_at or c.closed_at or c.created_at,
        reverse=True,
    )
    return [
        {
            "conversation_id": c.id,
            "customer_id": c.customer_id,
            "customer_name": c.customer_name,
            "channel": c.channel,
            "rated_at": c.rated_at or c.closed_at or c.created_at,
            "score": c.rating,
            "comment": c.rating_comment,
            **_agent(c.agent, names or {}),
        }
        for c in rated[:limit]
    ]
