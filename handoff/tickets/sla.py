"""The two service-level clocks of a ticket, read at a moment: the first response (an update
the customer received) and the resolution. A clock is met when its event came by its deadline,
breached when it came late or has not come and the deadline passed, and running otherwise.

A breach stays a breach: a ticket answered late still counts as a first-response breach in the
period's report, so a team cannot hide a miss by answering afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.store.records import TicketRecord
from bot.store.tickets import DONE


@dataclass(frozen=True)
class Clock:
    due_at: datetime | None
    done_at: datetime | None

    def breached(self, now: datetime) -> bool:
        if self.due_at is None:
            return False
        return (self.done_at or now) > self.due_at

    def remaining_s(self, now: datetime) -> float | None:
        """Seconds left (negative: overdue) while it runs; None once it stopped."""
        if self.due_at is None or self.done_at is not None:
            return None
        return (self.due_at - now).total_seconds()

    def to_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "due_at": self.due_at,
            "done_at": self.done_at,
            "breached": self.breached(now),
            "remaining_s": self.remaining_s(now),
        }


def first_response(ticket: TicketRecord) -> Clock:
    return Clock(ticket.first_response_due_at, ticket.first_response_at)


def resolution(ticket: TicketRecord) -> Clock:
    done = ticket.resolved_at or (ticket.closed_at if ticket.status in DONE else None)
    return Clock(ticket.resolution_due_at, done)


def sla_json(ticket: TicketRecord, now: datetime) -> dict[str, Any]:
    """The ticket's clocks for the console: each with its deadline, when it stopped, whether
    it is breached and the seconds left."""
    return {
        "first_response": first_response(ticket).to_dict(now),
        "resolution": resolution(ticket).to_dict(now),
    }


def breached(ticket: TicketRecord, now: datetime) -> bool:
    return first_response(ticket).breached(now) or resolution(ticket).breached(now)


def report(tickets: list[TicketRecord], now: datetime) -> dict[str, Any]:
    """Counts for a period's tickets (opened in it, or still open): how many were opened, how
    many are open, how many breached each clock, per skill group, and the open tickets
    breaching now (the ones to act on), most overdue first."""
    groups: dict[str, dict[str, int]] = {}
    totals = {"tickets": 0, "open": 0, "first_response_breaches": 0, "resolution_breaches": 0}
    totals["tier2"] = 0
    overdue: list[tuple[float, TicketRecord]] = []
    for t in tickets:
        g = groups.setdefault(
            t.skill_group or "",
            {"tickets": 0, "open": 0, "first_response_breaches": 0, "resolution_breaches": 0},
        )
        fr, res = first_response(t), resolution(t)
        counts = {
            "tickets": 1,
            "open": int(t.status not in DONE),
            "first_response_breaches": int(fr.breached(now)),
            "resolution_breaches": int(res.breached(now)),
        }
        for key, value in counts.items():
            g[key] += value
            totals[key] += value
        totals["tier2"] += int(t.tier >= 2 and t.status not in DONE)
        running = [x for x in (fr.remaining_s(now), res.remaining_s(now)) if x is not None]
        if t.status not in DONE and running and min(running) < 0:
            overdue.append((min(running), t))
    overdue.sort(key=lambda pair: pair[0])
    return {
        "totals": totals,
        "groups": [{"skill_group": k, **v} for k, v in sorted(groups.items())],
        "overdue": [
            {
                "number": t.number,
                "subject": t.subject,
                "skill_group": t.skill_group,
                "status": t.status,
                "tier": t.tier,
                "assigned_to": t.assigned_to,
                "overdue_s": -late,
                "sla": sla_json(t, now),
            }
            for late, t in overdue[:50]
        ],
    }
