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

Nothing Telegram hands over is lost: a polled update is confirmed (the next getUpdates offset
moves past it) only once it is stored. While the database is away the poller stops advancing,
backs off and asks for the same updates again; each chat's updates are stored in order, and a
redelivered update (stored, but not yet confirmed) is stored once and gets no second "typing".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from telegram import Bot, BotCommand, Update
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.request import HTTPXRequest

from bot.coordination import RedisLease
from bot.errors import StoreUnavailableError
from connectors.channel import ChannelServices
from connectors.outbox import Outbox
from connectors.telegram.media import fetch as fetch_file
from connectors.telegram.sender import TelegramSender
from connectors.telegram.settings import TelegramSettings
from connectors.telegram.updates import CHANNEL, Inbound, inbound_of

log = logging.getLogger(__name__)
# Not `edited_message`: an edit is not a new question (connectors/telegram/updates.py).
ALLOWED_UPDATES = ["message", "callback_query"]
SETUP_RETRY_S = (1, 2, 5, 10, 30, 60)
STORE_RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # the database away: the same updates again after
RESTART_S = 5.0  # a crashed poller starts again after this
# The command menu, per the Bot API's setMyCommands: English for everyone, Chinese for users
# whose app is in Chinese (language_code "zh").
COMMANDS: dict[str, list[tuple[str, str]]] = {
    "": [
        ("start", "Start a conversation"),
        ("help", "What I can help with"),
        ("human", "Talk to a person"),
    ],
    "zh": [("start", "开始对话"), ("help", "我能帮您做什么"), ("human", "转人工客服")],
}
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
            TelegramSender(self.bot, services.media_dir, self.store.deliveries, self.store.media),
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
        self._named: set[str] = set()  # chats whose customer has their Telegram name
        self.crashes = 0  # times the poller task died of an error (and was started again)

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._launch(self._run())

    def _launch(self, work: Any) -> None:
        """Run the connector's main task, watched: if it dies of an error, that is logged and
        polling starts again after RESTART_S (a bug must not silently stop a channel)."""
        task = asyncio.create_task(work, name="telegram")
        task.add_done_callback(self._on_done)
        self._tasks.append(task)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None or self._stopping.is_set():
            return
        self.crashes += 1
        exc = task.exception()
        log.error(
            "telegram: the connector task crashed; polling again in %.0f s",
            RESTART_S,
            exc_info=exc,
        )
        self._launch(self._restart())

    async def _restart(self) -> None:
        await _sleep_unless(RESTART_S, (self._stopping,))
        if not self.ready.is_set():  # it died setting up: set up again
            await self._run()
        elif self.settings.mode == "polling":
            await self._poll_forever()

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
        if self.settings.mode == "polling":
            await self._poll_forever()

    async def _poll_forever(self) -> None:
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
                await self._set_commands()
                log.info("telegram: @%s ready (%s)", self.username, self.settings.mode)
                return
            except (TelegramError, OSError) as exc:
                pause = SETUP_RETRY_S[min(attempt, len(SETUP_RETRY_S) - 1)]
                level = logging.ERROR if isinstance(exc, InvalidToken) else logging.WARNING
                log.log(level, "telegram: set-up failed (%s); again in %d s", exc, pause)
                await asyncio.sleep(pause)

    async def _set_commands(self) -> None:
        """The command menu in each language; a refusal is logged, not fatal (the commands
        work typed in full whatever the menu shows)."""
        for language, commands in COMMANDS.items():
            try:
                await self.bot.set_my_commands(
                    [BotCommand(name, text) for name, text in commands],
                    language_code=language or None,
                )
            except InvalidToken:
                raise
            except TelegramError as exc:
                log.warning("telegram: setMyCommands (%s) refused: %s", language or "default", exc)

    async def _poll(self, *halt: asyncio.Event) -> None:
        """getUpdates in a loop until one of `halt` is set (stopping, or the lease gone
        elsewhere); a batch in hand is finished first. The offset moves past an update only
        after it was stored, so a crash, a change of poller or the database away means a
        redelivery, which the update id makes harmless."""
        offset: int | None = None
        failures = 0
        unstored = 0
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
                if not updates:
                    continue
                done = await self.process_batch(updates)
                if done:
                    offset = updates[done - 1].update_id + 1
                if done < len(updates):  # not stored: the same updates again, after a pause
                    unstored += 1
                    wait = STORE_RETRY_S[min(unstored - 1, len(STORE_RETRY_S) - 1)]
                    log.warning(
                        "telegram: %d update(s) not stored (database away?); again in %.1f s",
                        len(updates) - done,
                        wait,
                    )
                    await _sleep_unless(wait, halt)
                else:
                    unstored = 0
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
    async def process_batch(self, updates: Sequence[Update]) -> int:
        """Chats in parallel, each chat's updates in order. Returns how many of `updates`,
        from the first, are done with (stored, or carrying nothing to store), so the offset
        may move past them. A chat stops at its first update not stored, so that its later
        ones are not stored before it; other chats go on (those past the returned count come
        again and are taken as redeliveries)."""
        by_chat: dict[str, list[Inbound]] = defaultdict(list)
        index: dict[str, int] = {}
        for position, u in enumerate(updates):
            inbound = inbound_of(u)
            if inbound is not None:
                by_chat[inbound.chat_id].append(inbound)
                index[inbound.external_id] = position
        first_unstored = len(updates)

        async def chat(items: list[Inbound]) -> None:
            nonlocal first_unstored
            for item in items:
                if not await self._stored(item):
                    first_unstored = min(first_unstored, index[item.external_id])
                    return

        await asyncio.gather(*(chat(items) for items in by_chat.values()))
        return first_unstored

    async def _stored(self, item: Inbound) -> bool:
        """Process one update; False when it may not be stored (the database failed), so it
        must come again. Any other failure is logged and the update counted as done: either
        it was stored and its turn failed (the turn sweeper finishes it), or it can never be
        stored, and holding the poller on it would stop every chat."""
        try:
            await self.process(item)
            return True
        except StoreUnavailableError as exc:
            log.warning("telegram: update %s not stored: %s", item.external_id, exc)
            return False
        except Exception:
            if not await self._store_answers():
                log.warning("telegram: update %s not stored (database away)", item.external_id)
                return False
            log.exception("telegram: update %s failed", item.external_id)
            return True

    async def _store_answers(self) -> bool:
        """Whether the database answers a query now (a SQLite file gone raises the driver's
        own error, not StoreUnavailableError)."""
        try:
            await self.store.customers.find(CHANNEL, "0")
        except Exception:
            return False
        return True

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
        await self._know(inbound)

        def typing() -> None:  # only for a newly stored update, never for a redelivery
            self._later(self.bot.send_chat_action(int(inbound.chat_id), "typing"))

        media = [await fetch_file(self.bot, inbound.file, self.store.media)] if inbound.file else []
        await self.engine.handle(
            CHANNEL,
            inbound.chat_id,
            inbound.text,
            external_id=inbound.external_id,
            language_hint=inbound.language,
            on_stored=typing,
            media=media,
            shared=inbound.shared,
        )
        self.outbox.wake()

    async def _know(self, inbound: Inbound) -> None:
        """Give the chat's customer their Telegram first name and language, once per chat
        per process: agents see "Li", not "Customer 3f2a…". A name an agent set is kept."""
        if inbound.chat_id in self._named or not (inbound.name or inbound.language):
            return
        customer = await self.store.customers.for_identity(
            CHANNEL, inbound.chat_id, name=inbound.name, language=inbound.language
        )
        missing: dict[str, Any] = {}
        if customer.name is None and inbound.name:
            missing["name"] = inbound.name
        if customer.language is None and inbound.language:
            missing["language"] = inbound.language
        if missing:
            await self.store.customers.update(customer.id, **missing)
        self._named.add(inbound.chat_id)

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
