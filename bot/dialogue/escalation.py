"""What the dialogue engine needs of the handoff side, named here so the engine never imports it.

The engine decides *that* a conversation goes to a person; which skill group takes it, when that
group is open, and each waiting customer's place in line belong to `handoff/` (handoff.routing's
`Router`, handoff.announcer's `QueueAnnouncer`). The composition root (bot/server) builds those
and hands them to the engine; tests can pass any object with these methods.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Protocol

from bot.config import HandoffSection
from bot.store.records import HandoffRecord


class Routing(Protocol):
    """Skill groups and their opening hours (handoff.routing.Router)."""

    @property
    def settings(self) -> HandoffSection: ...

    @property
    def tz(self) -> tzinfo: ...

    def group_for(self, reason: str, intent: str | None, category: str | None) -> str:
        """The skill group a conversation escalated for `reason` goes to."""
        ...

    def is_open(self, group: str, at: datetime | None = None) -> bool: ...

    def next_open(self, group: str, at: datetime) -> datetime:
        """`at` when the group is open then, else its next opening time."""
        ...


class QueuePlace(Protocol):
    """A waiting customer's place: 1 is next to be served."""

    @property
    def position(self) -> int: ...

    @property
    def wait_minutes(self) -> int: ...


class QueueAnnouncing(Protocol):
    """Tells waiting customers their place in line (handoff.announcer.QueueAnnouncer)."""

    async def place(self, handoff: HandoffRecord) -> QueuePlace: ...

    async def announce(self, group: str | None = None) -> int:
        """Tell every customer waiting in the group (all groups: None) whose place changed;
        how many were told."""
        ...
