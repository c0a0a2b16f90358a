"""Proactive contact's figures for a period: how many messages the bot sent first, how many it
held back and why, and what came of the ones that went out.

One computation for the dashboard (`GET /api/dashboard/proactive`, handoff/console/dashboard.py)
and `relaydesk report` (bot/cli/report.py), over the proactive ledger's own counts
(`store.proactive.stats`, bot/store/proactive_ledger.py). Definitions: docs/analytics.md,
"Proactive contact".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

# Every reason a proactive message can be held back for, in the order the decision checks them
# (bot/proactive/decide.py), then the scheduler's own. `quiet_hours` only postpones a message:
# it is shown beside the others, never added to the total held back.
REASONS = (
    "opt_out",
    "expired",
    "conditions",
    "cooldown",
    "cap",
    "quiet_hours",
    "duplicate",
    "unreachable",
)
POSTPONED = "quiet_hours"
COUNTS = ("sent", "delivered", "replied", "converted")


class ProactiveStats(Protocol):
    """The ledger's counts for a period (bot/store/proactive_ledger.py)."""

    async def stats(self, since: datetime, until: datetime) -> dict[str, Any]: ...


def rate(part: int, whole: int) -> float | None:
    """part ÷ whole, None when the whole is 0 (no data, not 0%)."""
    return round(part / whole, 4) if whole else None


def participation_rate(replied: int, delivered: int) -> float | None:
    """Replied ÷ delivered: of the proactive messages that reached the customer, the share the
    customer answered. None when none was delivered."""
    return rate(replied, delivered)


async def proactive_figures(
    ledger: ProactiveStats, since: datetime, until: datetime
) -> dict[str, Any]:
    """The period [since, until)'s proactive figures: sent, held back by reason (every known
    reason, zero or not), delivered, replied, converted and the participation rate."""
    return shape(await ledger.stats(since, until), since, until)


def shape(raw: Mapping[str, Any], since: datetime, until: datetime) -> dict[str, Any]:
    """The ledger's counts in the one shape the dashboard and the report show.

    Sent, delivered, replied and converted are one cohort: the messages sent in the period,
    and of those the ones delivered, replied to and converted, whenever that happened (after
    the period's end too: a reply counts within its window, bot/proactive/scheduler.py
    REPLY_WINDOW, in any of the customer's conversations), so the rates divide counts of the
    same messages. Held back are the rows that became final
    without being sent in the period: suppressed (cap, opt-out, ...) and cancelled (an
    `expires_if` event came first) together, by reason; quiet-hours postponements are counted
    apart (shown, never added to the total)."""
    counts = {k: int(raw.get(k) or 0) for k in COUNTS}
    # The ledger's `suppressed` holds both final ends (suppressed and cancelled) by reason,
    # and the quiet-hours postponements of rows due in the period.
    held = _by_reason(raw.get("suppressed"))
    held.setdefault(POSTPONED, 0)
    ordered = [*REASONS, *sorted(set(held) - set(REASONS))]
    return {
        "period": {"from": since, "to": until},
        **counts,
        "suppressed": sum(n for r, n in held.items() if r != POSTPONED),
        "postponed": held[POSTPONED],
        "suppressed_by_reason": [{"reason": r, "count": held.get(r, 0)} for r in ordered],
        "participation_rate": participation_rate(counts["replied"], counts["delivered"]),
        "delivery_rate": rate(counts["delivered"], counts["sent"]),
        "conversion_rate": rate(counts["converted"], counts["sent"]),
        "sent_by_rule": [
            {"rule": str(k), "sent": int(v)}
            for k, v in sorted(_counts(raw.get("sent_by_rule")).items())
        ],
        "opt_outs": int(raw.get("opt_outs") or 0),
        "scheduled_now": int(raw.get("scheduled_now") or 0),
    }


def _by_reason(value: Any) -> dict[str, int]:
    return {k: v for k, v in _counts(value).items() if k not in ("total", "None")}


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): int(v or 0) for k, v in value.items()}
