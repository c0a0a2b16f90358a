"""The Telegram connector: receives updates (webhook or long polling), runs each through the
dialogue engine, and pushes everything said back to the customer through the outbox.

Start-up never blocks the server: the bot is set up (getMe, setWebhook or deleteWebhook) in the
background and retried until Telegram answers, so the widget and the console work while
Telegram is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telegram import Bot, Update
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.request import HTTPXRequest

from bot.config import TelegramSection
from bot.server.runtime import Runtime
from bot.store.link_codes import LinkCodes
from connectors.outbox import Outbox
from connectors.telegram.sender import TelegramSender
from connectors.telegram.updates import CHANNEL, Inbound, inbound_of

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
SETUP_RETRY_S = (1, 2, 5, 10, 30, 60)


class TelegramConnector:
    def __init__(self, settings: TelegramSection, runtime: Runtime, media_dir: Path) -> None:
        assert settings.token and runtime.engine is not None and runtime.store is not None
        self.settings = settings
        self.engine = runtime.engine
        self.store = runtime.store
        self.link_codes = LinkCodes(runtime.store.db)
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
            self.store, TelegramSender(self.bot, media_dir), settings.delivery, runtime.metrics
        )
        self.username: str | None = None
        self.ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="telegram"))

    async def stop(self) -> None:
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for task in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.outbox.stop()
        if self.ready.is_set():
            with contextlib.suppress(Exception):
                await self.bot.shutdown()

    async def _run(self) -> None:
        await self._set_up()
        self.outbox.start()
        self.ready.set()
        if self.settings.mode == "polling":
            await self._poll()

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

    async def _poll(self) -> None:
        """getUpdates in a loop. The offset moves past an update only after it was stored, so
        a crash means a redelivery, which the update id makes harmless."""
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset,
                    timeout=self.settings.polling_timeout_seconds,
                    allowed_updates=ALLOWED_UPDATES,
                )
                failures = 0
            except Conflict as exc:  # a webhook is set, or another poller runs
                log.error("telegram: polling refused: %s", exc.message)
                await asyncio.sleep(10)
                continue
            except (TelegramError, OSError) as exc:
                failures += 1
                pause = SETUP_RETRY_S[min(failures - 1, len(SETUP_RETRY_S) - 1)]
                log.warning("telegram: getUpdates failed (%s); again in %d s", exc, pause)
                await asyncio.sleep(pause)
                continue
            if not updates:
                continue
            await self.process_batch(updates)
            offset = updates[-1].update_id + 1

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
                await self.store.link_identity(customer_id, CHANNEL, inbound.chat_id)
                log.info("telegram: chat linked to customer %s", customer_id)
        self._later(self.bot.send_chat_action(int(inbound.chat_id), "typing"))
        await self.engine.handle(
            CHANNEL, inbound.chat_id, inbound.text, external_id=inbound.external_id
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
