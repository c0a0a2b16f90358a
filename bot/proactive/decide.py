"""Whether one proactive message goes out now: pure, no I/O, fast (bench/proactive.py).

The scheduler (bot/proactive/scheduler.py) gathers what the store knows about the customer
into `CustomerFacts`, and asks `decide` for every due ledger row. The checks run in this order;
the first that holds is the answer:

    1. opt_out      the customer opted out (any channel, for good)      suppress "opt_out"
    2. expired      an event of a type in `expires_if` came after the   cancel   "expired"
                    trigger (the cart was bought since)
                    or the message is older than `expires_after`,       suppress "expired"
                    counted from when it was due (occurred_at + delay)
    3. conditions   segments / tags / languages / channels of the rule   suppress "conditions"
                    (each list: any of them; an empty list: anyone)
    4. cooldown     this rule sent to this customer within `cooldown`    suppress "cooldown"
    5. cap          sends (any rule) within the rolling `caps.window_days`  suppress "cap"
                    reached the customer's cap: `caps.high_value` for the value band "high",
                    `caps.default` for everyone else
    6. quiet hours  the customer's local time (their IANA time zone, else  wait  "quiet_hours",
                    `quiet_hours.default_timezone`) is inside the window,     at = the window's
                    which may cross midnight; a rule with                     end (UTC)
                    `quiet_hours: false` skips this check
                    (if the window ends after the message expires:          suppress "expired")
    7. send                                                                  send
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from typing import Any, Final, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config.proactive import ProactiveRule, ProactiveSection

Action = Literal["send", "suppress", "wait", "cancel"]
# The value band whose customers get `caps.high_value` (bot/store/segments.py's "high").
HIGH_VALUE_BANDS: Final = frozenset({"high", "high_value"})


class TriggerEvent(Protocol):
    """What `decide` reads of the event that triggered the message (bot/store/customer_events.py's
    CustomerEvent fits)."""

    @property
    def type(self) -> str: ...

    @property
    def occurred_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """What the decision needs to know about one customer (gathered by bot/proactive/facts.py)."""

    customer_id: str
    value_band: str | None = None  # "high" | "mid" | "low" | None (bot/store/segments.py)
    segments: frozenset[str] = frozenset()  # "lifecycle:active", "value:high", ...
    tags: frozenset[str] = frozenset()  # agents' and computed ("high_value", "vip", ...)
    language: str = "zh"
    channels: frozenset[str] = frozenset()  # where the customer is known: web, telegram, ...
    timezone: str | None = None  # IANA name ("Europe/Berlin"); None: the section's default
    opted_out: bool = False
    # Proactive messages sent to the customer (any rule), oldest first, newest last.
    sent_times: tuple[datetime, ...] = ()
    last_sent_by_rule: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str | None = None  # suppress/cancel: why; wait: "quiet_hours"
    at: datetime | None = None  # wait: when to look again (the end of the quiet hours, UTC)


SEND: Final = Decision("send")
_OPT_OUT: Final = Decision("suppress", "opt_out")
_CANCEL_EXPIRED: Final = Decision("cancel", "expired")
_TOO_OLD: Final = Decision("suppress", "expired")
_CONDITIONS: Final = Decision("suppress", "conditions")
_COOLDOWN: Final = Decision("suppress", "cooldown")
_CAP: Final = Decision("suppress", "cap")


def decide(
    rule: ProactiveRule,
    facts: CustomerFacts,
    trigger: TriggerEvent,
    later_event_types: set[str] | frozenset[str],
    now: datetime,
    section: ProactiveSection,
) -> Decision:
    """The decision for `rule`'s message to `facts.customer_id` about `trigger`, at `now` (aware).

    `later_event_types`: the types of the customer's events that occurred after the trigger.
    """
    if facts.opted_out:
        return _OPT_OUT
    if rule.expires_if and not later_event_types.isdisjoint(rule.expires_if):
        return _CANCEL_EXPIRED
    expires_at = (
        None
        if rule.expires_after is None
        else trigger.occurred_at + rule.delay + rule.expires_after
    )
    if expires_at is not None and now > expires_at:
        return _TOO_OLD
    if not conditions_hold(rule, facts):
        return _CONDITIONS
    if rule.cooldown:
        last = facts.last_sent_by_rule.get(rule.name)
        if last is not None and now - last < rule.cooldown:
            return _COOLDOWN
    caps = section.caps
    limit = caps.high_value if facts.value_band in HIGH_VALUE_BANDS else caps.default
    sent = facts.sent_times
    if (sends_within(sent, now - caps.window) if sent else 0) >= limit:
        return _CAP
    quiet = section.quiet_hours
    if quiet is not None and rule.quiet_hours:
        end = quiet_hours_end(now, facts.timezone, quiet.start, quiet.end, quiet.default_timezone)
        if end is not None:
            if expires_at is not None and end > expires_at:
                return _TOO_OLD
            return Decision("wait", "quiet_hours", end)
    return SEND


def conditions_hold(rule: ProactiveRule, facts: CustomerFacts) -> bool:
    c = rule.conditions
    if c.segments and facts.segments.isdisjoint(c.segments):
        return False
    if c.tags and facts.tags.isdisjoint(c.tags):
        return False
    if c.languages and facts.language not in c.languages:
        return False
    return not (c.channels and facts.channels.isdisjoint(c.channels))


def sends_within(sent_times: tuple[datetime, ...], since: datetime) -> int:
    """How many of the (oldest-first) send times are after `since`: a send exactly
    `window_days` ago has left the rolling window."""
    if not sent_times:
        return 0
    return len(sent_times) - bisect_right(sent_times, since)


def cap_for(value_band: str | None, section: ProactiveSection) -> int:
    """The customer's cap per rolling window."""
    caps = section.caps
    return caps.high_value if value_band in HIGH_VALUE_BANDS else caps.default


@lru_cache(maxsize=1024)
def zone(name: str | None, default: str) -> ZoneInfo:
    """The customer's time zone; an unknown or missing name falls back to `default`."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)


def in_quiet_hours(local: dtime, start: dtime, end: dtime) -> bool:
    """Whether a local time of day is inside [start, end), a window that may cross midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(
    now: datetime, timezone: str | None, start: dtime, end: dtime, default_timezone: str
) -> datetime | None:
    """None outside the quiet hours; inside them, when they end (UTC)."""
    tz = zone(timezone, default_timezone)
    local = now.astimezone(tz)
    t = local.time()  # naive: the wall-clock time of day
    if not in_quiet_hours(t, start, end):
        return None
    day = local.date()
    if t >= end:  # the window's end is tomorrow
        day += timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(UTC)


def explain(decision: Decision) -> dict[str, Any]:
    """The decision as plain data (logs, the ledger's reason, the bench's mix)."""
    return {
        "action": decision.action,
        "reason": decision.reason,
        "at": decision.at.isoformat() if decision.at else None,
    }


__all__ = [
    "HIGH_VALUE_BANDS",
    "SEND",
    "Action",
    "CustomerFacts",
    "Decision",
    "TriggerEvent",
    "cap_for",
    "conditions_hold",
    "decide",
    "explain",
    "in_quiet_hours",
    "quiet_hours_end",
    "sends_within",
    "zone",
]
