"""What the store's repositories raise, beyond `bot.errors.InputError` for values a caller may
not store: callers turn these into one answer at their edge (404, a retry, a dropped outcome)."""

from __future__ import annotations

from bot.errors import RelaydeskError


class NotFoundError(RelaydeskError):
    """The conversation, ticket, handoff or agent asked for does not exist."""


class TurnFinishedError(RelaydeskError):
    """The turn was finished meanwhile by another runner (a recovery, on this instance or
    another); its outcome is stored once, and this runner's is dropped."""
