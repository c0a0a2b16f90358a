"""A job run in the background every so many seconds, from `start()` until `await stop()`.

A round that raises is reported through `on_error` (called inside the `except`, so
`log.exception` there has the traceback) and the next round runs after the usual wait;
cancelling (`stop`) is never reported. `interval_s` is read after each round; with
`once_unless_positive`, an interval of zero or less ends the loop after that round.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class Periodic:
    def __init__(
        self,
        name: str,
        round_: Callable[[], Awaitable[object]],
        interval_s: Callable[[], float],
        on_error: Callable[[Exception], None],
        *,
        once_unless_positive: bool = False,
    ) -> None:
        self.name = name
        self._round = round_
        self._interval_s = interval_s
        self._on_error = on_error
        self._once_unless_positive = once_unless_positive
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._on_error(exc)
            interval = self._interval_s()
            if self._once_unless_positive and interval <= 0:
                return
            await asyncio.sleep(interval)
