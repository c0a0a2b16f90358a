"""Graceful shutdown: what a process does between SIGTERM and its exit, so a restart looks like
one to the people connected (and loses nothing), not like a server that went quiet.

aiohttp stops listening first; then the app's `on_shutdown` runs `LiveSockets.drain`:

1. stop accepting: every request still reaching the app (on a kept-alive connection) is
   answered 503 with Retry-After and `Connection: close`, and no socket is upgraded;
2. tell every open widget and console socket to reconnect elsewhere: close code 1012
   (WSCloseCode.SERVICE_RESTART, "restarting"); the clients show "reconnecting" and come back
   to another instance, or to this address once the new process listens, and catch up from
   their cursors (the widget's `hello.after`, the console's reloads);
3. let the customer turns in flight finish, up to `turns_s`: their replies are stored and the
   customer gets them on the new socket. A turn still running after that is cancelled with
   its message stored and unanswered, which turn recovery (bot/dialogue/recovery.py) answers on
   the next sweep of any instance.

A socket is registered with `add` right after its upgrade and `discard`ed when its handler
ends; a customer turn runs inside `async with live.turn():`; a background job that must not
start new work in a process on its way out (turn recovery) is stopped first (`stop_first`).
The whole exit stays within 5 s (bot/cli/serve.py sets aiohttp's own shutdown timeout for the
rest)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import WSCloseCode, web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)

CLOSE_MESSAGE = b"restarting"
CLOSE_WAIT_S = 1.0  # how long a socket's close handshake may take before it is cut
TURNS_WAIT_S = 2.5  # how long in-flight turns may run on after SIGTERM
UNWIND_S = 0.3  # how long a turn cancelled at that bound may take to unwind
RETRY_AFTER_S = 1


@dataclass(frozen=True)
class DrainReport:
    """What a drain did, for the log line an operator reads after a restart."""

    sockets: int  # told to reconnect (1012)
    turns_finished: int  # in flight at the start and done within the wait
    turns_left: int  # still running when the wait ended: left to turn recovery
    seconds: float


class LiveSockets:
    """The open sockets and the customer turns in flight of one process, and its drain."""

    def __init__(self, *, close_wait_s: float = CLOSE_WAIT_S, turns_s: float = TURNS_WAIT_S):
        self.close_wait_s = close_wait_s
        self.turns_s = turns_s
        self._sockets: set[web.WebSocketResponse] = set()
        self._turns = 0
        self._turn_tasks: set[asyncio.Task[object]] = set()
        self._no_turns = asyncio.Event()
        self._no_turns.set()
        self._late: set[asyncio.Task[None]] = set()
        self._first: list[Callable[[], Awaitable[object]]] = []
        self.draining = False

    def __len__(self) -> int:
        return len(self._sockets)

    @property
    def turns(self) -> int:
        """Customer turns running now."""
        return self._turns

    def stop_first(self, stop: Callable[[], Awaitable[object]]) -> None:
        """Run `stop` when the drain begins: a background job that must not start new work in a
        process on its way out (turn recovery would take up the very turns still finishing
        here, then have them cut off)."""
        self._first.append(stop)

    def add(self, ws: web.WebSocketResponse) -> None:
        """A socket just upgraded. One that got through while the drain began is told to
        reconnect at once, like the others."""
        if self.draining:
            task = asyncio.create_task(self._close(ws))
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return
        self._sockets.add(ws)

    def discard(self, ws: web.WebSocketResponse) -> None:
        self._sockets.discard(ws)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Around a customer turn (message stored, bot thinking, reply stored): the drain waits
        for it, up to `turns_s`."""
        task = asyncio.current_task()
        self._turns += 1
        self._no_turns.clear()
        if task is not None:
            self._turn_tasks.add(task)
        try:
            yield
        finally:
            self._turns -= 1
            if task is not None:
                self._turn_tasks.discard(task)
            if self._turns == 0:
                self._no_turns.set()

    async def drain(self) -> DrainReport:
        """Stop accepting, close every socket with 1012, wait for the turns in flight."""
        started = time.monotonic()
        self.draining = True
        sockets = list(self._sockets)
        in_flight = self._turns
        await asyncio.gather(
            *(self._close(ws) for ws in sockets), *(self._stop(stop) for stop in self._first)
        )
        left = max(0.0, self.turns_s - (time.monotonic() - started))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_turns.wait(), left)
        left_over = self._turns
        await self._cancel_turns()
        if self._late:
            await asyncio.gather(*self._late, return_exceptions=True)
        report = DrainReport(
            sockets=len(sockets),
            turns_finished=max(0, in_flight - left_over),
            turns_left=left_over,
            seconds=time.monotonic() - started,
        )
        log.info(
            "shutting down: %d socket(s) told to reconnect, %d turn(s) finished, %d left to "
            "turn recovery, in %.2f s",
            report.sockets,
            report.turns_finished,
            report.turns_left,
            report.seconds,
        )
        return report

    async def _cancel_turns(self) -> None:
        """Cancel the turns still running, and let them unwind briefly. Their sockets are
        closed already, so aiohttp's own shutdown no longer knows their handlers: left alone
        they would run on while the store and the shop's systems close under them, and answer
        the customer with a failure. Cancelled, the message stays stored and unanswered, and
        turn recovery answers it."""
        tasks = [t for t in self._turn_tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=UNWIND_S)

    async def _stop(self, stop: Callable[[], Awaitable[object]]) -> None:
        try:
            await asyncio.wait_for(stop(), self.close_wait_s)
        except Exception:
            log.exception("stopping a background job for the drain failed")

    async def _close(self, ws: web.WebSocketResponse) -> None:
        """Send the close frame (1012) and wait for the client's answer, briefly: a client
        that does not answer is cut off (it has the close frame already)."""
        try:
            await asyncio.wait_for(
                ws.close(code=WSCloseCode.SERVICE_RESTART, message=CLOSE_MESSAGE),
                self.close_wait_s,
            )
        except TimeoutError:
            log.debug("a socket did not answer its close within %.1f s", self.close_wait_s)
        except (ConnectionError, RuntimeError) as exc:  # gone already, or never prepared
            log.debug("closing a socket failed: %s", exc)


LIVE = web.AppKey("live_sockets", LiveSockets)


def unavailable() -> web.HTTPServiceUnavailable:
    """The answer to whatever arrives during the drain (shaped by the error middleware)."""
    return web.HTTPServiceUnavailable(
        text="the server is restarting; try again in a moment",
        headers={"Retry-After": str(RETRY_AFTER_S), "Connection": "close"},
    )


@web.middleware
async def draining_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Once the drain began, nothing new is served here: the client goes to another instance
    (or comes back after the restart)."""
    if request.app[LIVE].draining:
        raise unavailable()
    return await handler(request)


async def drain_on_shutdown(app: web.Application) -> None:
    """An `on_shutdown` hook: the drain of the app's registry."""
    await app[LIVE].drain()
