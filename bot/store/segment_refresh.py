"""Keeping segments current in a running server: lifecycles move with the calendar (a customer
is "new" for 30 days, then not), so every customer is re-segmented at start-up and then every
`customers.refresh_minutes`. Several instances may each run it; a run is idempotent."""

from __future__ import annotations

import logging

from bot.periodic import Periodic
from bot.store.profiles import SqlProfiles

log = logging.getLogger(__name__)


class SegmentRefresher:
    """Start with `start()`, end with `await stop()`."""

    def __init__(self, profiles: SqlProfiles, every_minutes: float) -> None:
        self.profiles = profiles
        self.every_s = every_minutes * 60
        self._loop = Periodic(
            "segment-refresh",
            self._refresh,
            lambda: self.every_s,
            # a database hiccup: the next run tries again
            lambda _exc: log.exception("computing segments failed"),
            once_unless_positive=True,
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _refresh(self) -> None:
        summary = await self.profiles.recompute()
        log.info("segments computed for %d customers", summary.customers)
