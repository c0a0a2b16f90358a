"""Keeping segments current in a running server: lifecycles move with the calendar (a customer
is "new" for 30 days, then not), so every customer is re-segmented at start-up and then every
`customers.refresh_minutes`. Several instances may each run it; a run is idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.store.profiles import SqlProfiles

log = logging.getLogger(__name__)


class SegmentRefresher:
    """Start with `start()`, end with `await stop()`."""

    def __init__(self, profiles: SqlProfiles, every_minutes: float) -> None:
        self.profiles = profiles
        self.every_s = every_minutes * 60
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="segment-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                summary = await self.profiles.recompute()
                log.info("segments computed for %d customers", summary.customers)
            except Exception:  # a database hiccup: the next run tries again
                log.exception("computing segments failed")
            if self.every_s <= 0:
                return
            await asyncio.sleep(self.every_s)
