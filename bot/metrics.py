"""Prometheus metrics, one registry per running app (so tests that build many apps never share
counters). The hot path only bumps in-memory counters; the queue gauges are read from the store
when /metrics is scraped, never per turn."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot import clock

if TYPE_CHECKING:
    from bot.store.sql_store import SqlStore

# A turn takes from a few milliseconds (a duplicate, a silent turn) to a few seconds (a slow
# database or a busy parse thread): buckets from 5 ms to 5 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)
OUTCOMES = ("answered", "clarify", "fallback", "handoff", "silent", "duplicate", "error")
SOCKET_KINDS = ("widget", "console")


class TurnSummary(Protocol):
    """What `turn_outcome` reads of a turn's result (bot.dialogue.engine.TurnResult): metrics
    sit beside the dialogue, so they name what they need rather than import the engine."""

    @property
    def duplicate(self) -> bool: ...
    @property
    def handoff(self) -> object | None: ...
    @property
    def replies(self) -> Sequence[object]: ...
    @property
    def extra(self) -> Mapping[str, Any]: ...
    @property
    def failed_turns(self) -> int: ...


def turn_outcome(result: TurnSummary) -> str:
    """answered | clarify | fallback | handoff | silent | duplicate (an error never returns a
    result).

    A failed turn (out of scope, not confident, no knowledge answer) is the only kind that
    leaves `failed_turns` above zero: a successful one resets it. A clarify (close articles
    offered as a question) keeps the count as it was, so it is told apart first."""
    if result.duplicate:
        return "duplicate"
    if result.handoff is not None:
        return "handoff"
    if not result.replies:  # queued or with an agent: the bot listens and says nothing
        return "silent"
    if result.extra.get("kb_choices"):
        return "clarify"
    if result.failed_turns > 0:
        return "fallback"
    return "answered"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.turns = Counter(
            "relaydesk_turns_total",
            "Customer turns handled, by channel and outcome.",
            ["channel", "outcome"],
            registry=r,
        )
        self.turn_latency = Histogram(
            "relaydesk_turn_latency_seconds",
            "Time from a customer's message to the bot's decision, by channel.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.parse_latency = Histogram(
            "relaydesk_parse_latency_seconds",
            "Time to answer POST /model/parse.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_length = Gauge(
            "relaydesk_queue_length",
            "Conversations waiting for an agent, by skill group (read at scrape time).",
            ["skill_group"],
            registry=r,
        )
        self.queue_longest_wait = Gauge(
            "relaydesk_queue_longest_wait_seconds",
            "How long the longest-waiting conversation has waited, by skill group.",
            ["skill_group"],
            registry=r,
        )
        self.handoffs = Counter(
            "relaydesk_handoffs_total",
            "Conversations put in the agents' queue, by reason and skill group.",
            ["reason", "skill_group"],
            registry=r,
        )
        self.deliveries_failed = Counter(
            "relaydesk_deliveries_failed_total",
            "Outbound messages given up on (pushed channels), by channel.",
            ["channel"],
            registry=r,
        )
        self.http_errors = Counter(
            "relaydesk_http_errors_total",
            "HTTP responses with an error status, by class (4xx, 5xx).",
            ["status_class"],
            registry=r,
        )
        self.websockets = Gauge(
            "relaydesk_websocket_connections",
            "Open websocket connections, by kind (widget, console).",
            ["kind"],
            registry=r,
        )
        for kind in SOCKET_KINDS:
            self.websockets.labels(kind=kind)  # shown as 0 before the first connection

    def observe_turn(self, channel: str, outcome: str, seconds: float) -> None:
        self.turns.labels(channel=channel, outcome=outcome).inc()
        self.turn_latency.labels(channel=channel).observe(seconds)

    def handoff(self, reason: str, skill_group: str) -> None:
        self.handoffs.labels(reason=reason, skill_group=skill_group).inc()

    def http_error(self, status: int) -> None:
        self.http_errors.labels(status_class=f"{status // 100}xx").inc()

    async def refresh_queue(self, store: SqlStore, skill_groups: Iterable[str] = ()) -> None:
        """Set the queue gauges from the store: every configured group (0 when nobody waits)
        and any other group someone waits in. Called by the /metrics handler."""
        waiting = await store.handoffs.queued()
        now = clock.now()  # the clock the store stamps queued_at with
        counts = dict.fromkeys(skill_groups, 0)
        longest = dict.fromkeys(skill_groups, 0.0)
        for h in waiting:
            counts[h.skill_group] = counts.get(h.skill_group, 0) + 1
            waited = max(0.0, (now - h.queued_at).total_seconds())
            longest[h.skill_group] = max(longest.get(h.skill_group, 0.0), waited)
        # No await from here on: a concurrent scrape never sees half-set gauges.
        self.queue_length.clear()
        self.queue_longest_wait.clear()
        for group, n in counts.items():
            self.queue_length.labels(skill_group=group).set(n)
            self.queue_longest_wait.labels(skill_group=group).set(longest[group])
