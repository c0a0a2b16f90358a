"""The ticket sweeper: every `tickets.sweep_interval_seconds`, each instance escalates tier-1
tickets left unresolved too long (alerting the supervisors), sends the follow-ups that are due,
closes tickets resolved long enough ago, and puts tickets waiting on a customer who has written
since back in progress. Every change is a conditional update in the store,
so instances sweeping side by side never escalate, send or close anything twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bot import clock
from bot.periodic import Periodic
from handoff.tickets.desk import TicketDesk

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Swept:
    escalated: list[str] = field(default_factory=list)
    followed_up: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)


class TicketSweeper:
    def __init__(self, desk: TicketDesk, interval_s: float) -> None:
        self.desk = desk
        self.interval_s = interval_s
        self._loop = Periodic(
            "ticket-sweeper",
            self.sweep,
            lambda: self.interval_s,
            # the database is away, say: log it, look again later
            lambda exc: log.warning("ticket sweeper: sweep failed (%s)", exc),
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def sweep(self) -> Swept:
        """One pass, at the clock's time (tests run it on a simulated clock)."""
        now = clock.now()
        return Swept(
            await self.desk.escalate_overdue(now),
            await self.desk.send_due_follow_ups(now),
            await self.desk.close_resolved(now),
            await self.desk.resume_answered(),
        )
