"""Pushes outbound messages to a channel that must be called (Telegram, WeChat), from the
delivery ledger (bot/store/deliveries.py), with retries.

A transient failure (the channel's rate limit, a 5xx, a timeout) is retried with exponential
backoff, or after the channel's own `retry_after`; a permanent one (the customer blocked the bot,
WeChat's window closed) or running out of attempts marks the delivery failed and tells the agent
with an internal system message in the conversation. Nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from bot.events import MessageEvent
from bot.metrics import Metrics
from bot.store.deliveries import DueDelivery
from bot.store.sql_store import SqlStore
from connectors.settings import DeliverySettings

log = logging.getLogger(__name__)
POLL_S = 1.0  # also picks up retries whose backoff ended, and holds that lapsed
CONCURRENCY = 8
STOP_GRACE_S = 10.0  # at shutdown, how long the sends in flight may take to finish


class RetryLater(Exception):
    """Try again: after `after_s` when the channel said so, else after the backoff."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.after_s = after_s


class Undeliverable(Exception):
    """Trying again would not help; the reason is shown to the agent."""


class ChannelSender(Protocol):
    """What the outbox sends through (connectors.channel.OutputChannel, or a test's fake)."""

    @property
    def channel(self) -> str: ...

    @property
    def label(self) -> str:
        """How agents read the channel's name: "Telegram", "WeChat"."""
        ...

    async def send(self, delivery: DueDelivery) -> str | None:
        """Send one message; return the channel's id for it, if any. Raise RetryLater or
        Undeliverable."""
        ...


class Outbox:
    def __init__(
        self,
        store: SqlStore,
        sender: ChannelSender,
        settings: DeliverySettings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.deliveries = store.deliveries
        self.sender = sender
        self.settings = settings or DeliverySettings()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = store.bus.subscribe(self._on_event)
        self._gate = asyncio.Semaphore(CONCURRENCY)
        self._stopping = False
        self.metrics = metrics or Metrics()

    def _on_event(self, event: MessageEvent) -> None:
        if event.sender != "customer":
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-{self.sender.channel}")

    async def stop(self) -> None:
        """Let the sends in flight finish (up to STOP_GRACE_S), then stop. A send cut off
        halfway would stay claimed until its lease ends, and one that reached the channel but
        was not marked sent would go out again from another instance."""
        self._unsubscribe()
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=STOP_GRACE_S)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away, say: keep the loop alive, retry soon
                log.exception("outbox %s: could not read the ledger", self.sender.channel)
                sent = 0
            if not sent:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
                # lands as the event is set, and stop() would wait for ever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_S):
                        await self._wake.wait()
                self._wake.clear()

    async def run_once(self) -> int:
        """Send what is due now (each conversation's oldest pending message); how many tried."""
        due = await self.deliveries.claim_due(
            self.sender.channel, lease_s=self.settings.request_timeout_seconds * 3
        )
        await asyncio.gather(*(self._deliver(d) for d in due))
        return len(due)

    async def _deliver(self, d: DueDelivery) -> None:
        async with self._gate:
            try:
                if d.recipient is None:
                    raise Undeliverable(f"the customer has no {self.sender.label} identity")
                ref = await self.sender.send(d)
            except RetryLater as exc:
                await self._retry_or_fail(d, str(exc), exc.after_s)
                return
            except Undeliverable as exc:
                await self._fail(d, str(exc))
                return
            except Exception as exc:  # a bug or an unforeseen library error: retry, visibly
                log.exception("outbox %s: message %d failed", self.sender.channel, d.message.id)
                await self._retry_or_fail(d, f"unexpected error: {exc!r}", None)
                return
            await self.deliveries.sent(d.message.id, via="api", ref=ref)
        self._wake.set()  # the conversation's next message may be due now

    async def _retry_or_fail(self, d: DueDelivery, reason: str, after_s: float | None) -> None:
        """Again after the channel's wait (or the backoff), unless the attempts are used up."""
        if d.attempts >= self.settings.max_attempts:
            await self._fail(d, f"{reason} (gave up after {d.attempts} attempts)")
            return
        after = after_s if after_s is not None else self._backoff(d.attempts)
        log.info(
            "outbox %s: message %d, attempt %d: %s; again in %.1f s",
            self.sender.channel,
            d.message.id,
            d.attempts,
            reason,
            after,
        )
        await self.deliveries.retry(d.message.id, after_s=after, error=reason)

    def _backoff(self, attempts: int) -> float:
        s = self.settings
        return float(min(s.max_backoff_seconds, s.first_backoff_seconds * 2 ** (attempts - 1)))

    async def _fail(self, d: DueDelivery, reason: str) -> None:
        log.warning(
            "outbox %s: message %d not delivered: %s", self.sender.channel, d.message.id, reason
        )
        await self.deliveries.failed(d.message.id, reason)
        self.metrics.deliveries_failed.labels(channel=self.sender.channel).inc()
        # The agent sees it in the transcript; the customer's channel never gets it (internal).
        await self.store.messages.append(
            d.message.conversation_id,
            "system",
            f"Not delivered on {self.sender.label} / 未送达: {reason}",
            payload={
                "event": "delivery_failed",
                "message_id": d.message.id,
                "channel": self.sender.channel,
                "reason": reason,
                "internal": True,
            },
        )
        self._wake.set()
