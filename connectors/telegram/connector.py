"""The Telegram connector: receives updates (webhook or long polling), runs each through the
dialogue engine, and pushes everything said back to the customer through the outbox.

Start-up never blocks the server: the bot is set up (getMe, setWebhook or deleteWebhook) in the
background and retried until Telegram answers, so the widget and the console work while
Telegram is unreachable.

Several instances (server.redis_url) may each run this connector. In webhook mode they need no
leader: any instance takes any update, and the update id and the per-customer turn lock make a
redelivery harmless. Long polling is another matter, as Telegram serves one getUpdates at a
time per bot and answers the other 409 Conflict; so only the holder of a Redis lease polls, and
another instance takes over when it stops or dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.request import HTTPXRequest

from bot.coordination import RedisLease
from connectors.channel import ChannelServices
from connectors.outbox import Outbox
from connectors.telegram.sender import TelegramSender
from connectors.telegram.settings import TelegramSettings
from connectors.telegram.updates import CHANNEL, Inbound, inbound_of

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
SETUP_RETRY_S = (1, 2, 5, 10, 30, 60)
STOP_GRACE_S = 10.0  # at shutdown, how long the updates in hand may take to finish


class TelegramConnector:
    def __init__(self, settings: TelegramSettings, services: ChannelServices) -> None:
        assert settings.token
        self.settings = settings
        self.engine = services.engine
        self.store = services.store
        self.link_codes = services.store.link_codes
        timeout = settings.delivery.request_timeout_seconds
        self.bot = Bot(
            settings.token,
            base_url=settings.base_url,
            base_file_url=settings.base_file_url,
            request=HTTPXRequest(
                connection_pool_size=16,
                read_timeout=timeout,
                write_timeout=timeout,
                connect_timeout=timeout,
                media_write_timeout=timeout * 3,
            ),
            get_updates_request=HTTPXRequest(
                connection_pool_size=1,
                read_timeout=settings.polling_timeout_seconds + timeout,
                connect_timeout=timeout,
            ),
        )
        self.outbox = Outbox(
            self.store,
            TelegramSender(self.bot, services.media_dir),
            settings.delivery,
            services.metrics,
        )
        self.username: str | None = None
        self.ready = asyncio.Event()
        self.lease: RedisLease | None = None
        if services.redis is not None and settings.mode == "polling":
            bot_id = settings.token.split(":", 1)[0]  # one poller per bot, whatever else shares
            self.lease = RedisLease(
                services.redis,
                f"relaydesk:telegram:poller:{bot_id}",
                ttl_s=settings.polling_lease_seconds,
            )
        self.polling = False  # this instance is the one calling getUpdates
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="telegram"))

    async def stop(self) -> None:
        self._stopping.set()
        if self.polling and self._tasks:  # the batch in hand is finished: no turn cut in half
            await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for task in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.lease is not None:  # the next instance need not wait for it to expire
            await self.lease.release()
        await self.outbox.stop()
        if self.ready.is_set():
            with contextlib.suppress(Exception):
                await self.bot.shutdown()

    async def _run(self) -> None:
        await self._set_up()
        self.outbox.start()
        self.ready.set()
        if self.settings.mode != "polling":
            return
        if self.lease is None:
            await self._poll(self._stopping)
            return
        while not self._stopping.is_set():
            await self.lease.acquire()
            log.info("telegram: this instance polls (lease %s)", self.lease.name)
            try:
                await self._poll(self._stopping, self.lease.lost)
            finally:
                await self.lease.release()
            if not self._stopping.is_set():
                log.warning("telegram: polling lease lost; another instance polls now")

    async def _set_up(self) -> None:
        for attempt in range(10**9):
            try:
                await self.bot.initialize()  # getMe
                self.username = self.bot.username
                if self.settings.mode == "polling":
                    await self.bot.delete_webhook()
                elif self.settings.webhook_url:
                    await self.bot.set_webhook(
                        self.settings.webhook_url,
                        secret_token=self.settings.secret_token,
                        allowed_updates=ALLOWED_UPDATES,
                    )
                log.info("telegram: @%s ready (%s)", self.username, self.settings.mode)
                return
            except (TelegramError, OSError) as exc:
                pause = SETUP_RETRY_S[min(attempt, len(SETUP_RETRY_S) - 1)]
                level = logging.ERROR if isinstance(exc, InvalidToken) else logging.WARNING
                log.log(level, "telegram: set-up failed (%s); again in %d s", exc, pause)
                await asyncio.sleep(pause)

    async def _poll(self, *halt: asyncio.Event) -> None:
        """getUpdates in a loop until one of `halt` is set (stopping, or the lease gone
        elsewhere); a batch in hand is finished first. The offset moves past an update only
        after it was stored, so a crash or a change of poller means a redelivery, which the
        update id makes harmless."""
        offset: int | None = None
        failures = 0
        self.polling = True
        try:
            while not any(event.is_set() for event in halt):
                updates = await self._get_updates(offset, halt)
                if updates is None:
                    failures += 1
                    pause = SETUP_RETRY_S[min(failures - 1, len(SETUP_RETRY_S) - 1)]
                    await _sleep_unless(pause, halt)
                    continue
                failures = 0
                if updates:
                    await self.process_batch(updates)
                    offset = updates[-1].update_id + 1
        finally:
            self.polling = False

    async def _get_updates(
        self, offset: int | None, halt: tuple[asyncio.Event, ...]
    ) -> Sequence[Update] | None:
        """One long poll: its updates ([] when it timed out or a `halt` event came first), or
        None after a failure worth a pause."""
        call = asyncio.ensure_future(
            self.bot.get_updates(
                offset=offset,
                timeout=self.settings.polling_timeout_seconds,
                allowed_updates=ALLOWED_UPDATES,
            )
        )
        watches = [asyncio.ensure_future(event.wait()) for event in halt]
        try:
            await asyncio.wait({call, *watches}, return_when=asyncio.FIRST_COMPLETED)
            if not call.done():  # stopping, or the lease's new holder polls from now on
                return []
            return await call
        except Conflict as exc:  # a webhook is set, or another poller runs
            log.error("telegram: polling refused: %s", exc.message)
            await _sleep_unless(10, halt)
            return []
        except (TelegramError, OSError) as exc:
            log.warning("telegram: getUpdates failed (%s)", exc)
            return None
        finally:
            for pending in (call, *watches):
                if not pending.done():
                    pending.cancel()

    # -- one update ----------------------------------------------------------------------------
    async def process_batch(self, updates: Sequence[Update]) -> None:
        """Chats in parallel, each chat's updates in order."""
        by_chat: dict[str, list[Inbound]] = defaultdict(list)
        for u in updates:
            inbound = inbound_of(u)
            if inbound is not None:
                by_chat[inbound.chat_id].append(inbound)

        async def chat(items: list[Inbound]) -> None:
            for item in items:
                try:
                    await self.process(item)
                except Exception:  # stored (or not) - log and go on; never stall the batch
                    log.exception("telegram: update %s failed", item.external_id)

        await asyncio.gather(*(chat(items) for items in by_chat.values()))

    async def process_update(self, data: dict[str, Any]) -> None:
        update = Update.de_json(data, self.bot)
        inbound = inbound_of(update)
        if inbound is not None:
            await self.process(inbound)

    async def process(self, inbound: Inbound) -> None:
        if inbound.callback_id is not None:
            self._later(self.bot.answer_callback_query(inbound.callback_id))
        if inbound.start_code:
            customer_id = await self.link_codes.redeem(inbound.start_code)
            if customer_id is not None:
                await self.store.customers.link(customer_id, CHANNEL, inbound.chat_id)
                log.info("telegram: chat linked to customer %s", customer_id)
        self._later(self.bot.send_chat_action(int(inbound.chat_id), "typing"))
        await self.engine.handle(
            CHANNEL,
            inbound.chat_id,
            inbound.text,
            external_id=inbound.external_id,
            language_hint=inbound.language,
        )
        self.outbox.wake()

    def _later(self, call: Any) -> None:
        """A best-effort call (typing, answering a button) that must not hold up the turn."""

        async def run() -> None:
            try:
                await call
            except TelegramError as exc:
                log.info("telegram: %s", exc)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def link_url(self, customer_id: str) -> tuple[str, str, Any]:
        """A t.me deep link that brings this customer's Telegram chat into their history."""
        code, expires = await self.link_codes.issue(
            customer_id, minutes=self.settings.link_code_minutes
        )
        return f"https://t.me/{self.username}?start={code}", code, expires


async def _sleep_unless(seconds: float, halt: tuple[asyncio.Event, ...]) -> None:
    """A pause that ends early when one of `halt` is set."""
    watches = [asyncio.ensure_future(event.wait()) for event in halt]
    try:
        await asyncio.wait(watches, timeout=seconds)
    finally:
        for watch in watches:
            watch.cancel()
