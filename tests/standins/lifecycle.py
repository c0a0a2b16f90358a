"""What every stand-in server shares: started and stopped by `async with`, like the clients the
product uses against the real APIs, and a way for a test to wait until the stand-in has seen
something (a call, a message) without polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web


class StandIn:
    """A local server a test starts with `async with`; subclasses give start() and close()
    (serving their app with `_serve`), call `_notify()` whenever their state changes, and set
    `_closing` when they close."""

    host: str  # the address to listen on: set by the subclass

    def __init__(self) -> None:
        self.port = 0  # a free one, once started
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()  # set, and replaced, on every change
        self._closing = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _serve(self, app: web.Application) -> None:
        """Serve `app` on a free port of `host`."""
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self.port = self._runner.addresses[0][1]

    async def _stop_serving(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Whether `predicate` came to hold within `timeout` seconds (False once closing)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing.is_set():
                return False
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return True
