"""The one place the bot, the store and the handoff side read the time from.

`now()` is `datetime.now(UTC)` unless a simulation (bench/simulate.py) or a test has
substituted the source. The substitution is PROCESS-WIDE: every module, every thread (the store's
worker threads included) and every task sees the substituted time until it is undone. A server
never substitutes it; use it only in simulations and tests, and always through `use_clock` (or
pair `set_source` with `set_source(None)` in a `finally`), so the real clock comes back.

Elapsed-time measurements (timeouts, latencies, leases' local timers) use `time.monotonic()` and
are not affected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TypeVar

Source = Callable[[], datetime]
C = TypeVar("C", bound=Source)


def real_now() -> datetime:
    return datetime.now(UTC)


_source: Source = real_now


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return _source().astimezone(UTC)


def set_source(source: Source | None) -> None:
    """Read the time from `source` from now on (None: the real clock again). Process-wide."""
    global _source
    _source = source or real_now


def simulated() -> bool:
    """Whether the time comes from anything but the real clock."""
    return _source is not real_now


@contextmanager
def use_clock(source: C) -> Iterator[C]:
    """Substitute the time source for the block, restoring the previous one afterwards, even on
    an error. Process-wide: only for simulations and tests."""
    global _source
    previous = _source
    _source = source
    try:
        yield source
    finally:
        _source = previous


class SimulatedClock:
    """A clock that stands still until told to move: `advance(seconds)` or `set(dt)`. Calling
    it returns its time, so it is a source for `use_clock`."""

    def __init__(self, start: datetime) -> None:
        self._at = _aware(start)

    def __call__(self) -> datetime:
        return self._at

    def now(self) -> datetime:
        return self._at

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("a simulated clock does not go backwards")
        self._at += timedelta(seconds=seconds)
        return self._at

    def set(self, at: datetime) -> datetime:
        """Jump to `at` (forwards or backwards: the caller is the judge)."""
        self._at = _aware(at)
        return self._at


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("a simulated clock needs a timezone-aware time")
    return at.astimezone(UTC)
