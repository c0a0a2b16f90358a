"""The WeChat connector: each webhook message runs through the dialogue engine (an event is
first recorded and mapped to what the bot reads, connectors/wechat/events.py; a customer's file
is fetched into the media store, connectors/wechat/media.py). WeChat waits 5 seconds for the
answer and retries three times after that, so:

- the turn's replies are stored with their deliveries held back for the passive window;
- if the turn is done in `passive_reply_seconds`, its first reply goes in the response itself
  (claimed in the ledger, so the outbox never sends it too) and the rest are released to the
  outbox;
- otherwise the response is "success" (WeChat shows nothing and does not retry) and the replies
  go out through the customer-service API as soon as the turn ends;
- a passive reply whose response could not be written (WeChat's connection dropped) is not
  delivered: it goes back to pending, held for `dropped_reply_wait_seconds`; WeChat's retry of
  the same MsgId gets it as its answer (instead of "success"), else the outbox sends it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.dialogue.results import TurnResult
from bot.store.media import MediaFailure, NewMedia
from connectors.channel import ChannelServices
from connectors.outbox import Outbox, RetryLater, Undeliverable
from connectors.wechat.api import WechatApi
from connectors.wechat.crypto import MessageCrypto
from connectors.wechat.events import Events
from connectors.wechat.followers import Followers, Profiles
from connectors.wechat.kb_images import KnowledgeImages
from connectors.wechat.media import fetch_inbound
from connectors.wechat.menu import check_intents, menu_body
from connectors.wechat.protocol import CHANNEL, Inbound, as_text, passive_text
from connectors.wechat.replay import ReplayGuard
from connectors.wechat.sender import WechatSender
from connectors.wechat.settings import WechatSettings

log = logging.getLogger(__name__)
SUCCESS = "success"  # WeChat's "received, nothing to show"
DROPPED = "the passive reply's connection dropped before it was written"


@dataclass(frozen=True)
class Passive:
    """A reply claimed for a webhook's answer, delivered only once the response is written."""

    conversation_id: str
    message_id: int
    seq: int
    xml: str
    key: tuple[str, str]  # (openid, MsgId): what WeChat's retry of the message carries


class WechatConnector:
    def __init__(self, settings: WechatSettings, services: ChannelServices) -> None:
        assert settings.app_id and settings.app_secret and settings.token
        self.settings = settings
        self.engine = services.engine
        self.store = services.store
        self.deliveries = services.store.deliveries
        self.api = WechatApi(
            settings.api_base,
            settings.app_id,
            settings.app_secret,
            timeout_s=settings.delivery.request_timeout_seconds,
            redis=services.redis,  # one access token for every instance
            lease_s=settings.token_lease_seconds,
        )
        followers = Followers(self.store.customers)
        profiles = Profiles(self.api, self.store.customers) if settings.fetch_user_info else None
        self.profiles = profiles
        self.events = Events(settings, self.store, profiles)
        images = KnowledgeImages(self.api, services.media_dir)  # knowledge images as images
        sender = WechatSender(
            self.api, self.deliveries, settings, followers, self.store.agents, images
        )
        sender.media = self.store.media  # agents' attachments
        self.sender = sender
        self.outbox = Outbox(self.store, sender, settings.delivery, services.metrics)
        # Shared through Redis when instances share one: a replay to another instance is caught.
        self.replay = ReplayGuard(settings.timestamp_window_seconds, services.redis)
        self.crypto = (
            MessageCrypto(settings.token, settings.encoding_aes_key, settings.app_id)
            if settings.encoding_aes_key
            else None
        )
        # Passive replies whose connection dropped, by (openid, MsgId), waiting for the retry.
        # In this process only: a retry that reaches another instance answers "success", and
        # the reply goes through the outbox when its hold ends.
        self._dropped: dict[tuple[str, str], tuple[str, int]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        check_intents(self.settings.menu, self.engine.nlu.intents)
        self.outbox.start()
        if self.settings.create_menu and self.settings.menu:
            self._spawn(self._create_menu())

    async def _create_menu(self) -> None:
        """At start-up, with `create_menu`: WeChat's menu as config.yml defines it."""
        try:
            await self.api.create_menu(menu_body(self.settings.menu))
            log.info("wechat: the custom menu was created")
        except (RetryLater, Undeliverable) as exc:
            log.error("wechat: the custom menu could not be created: %s", exc)

    async def receive(self, inbound: Inbound) -> Passive | None:
        """A message or event from WeChat: recorded, and answered by the bot when it says
        something (connectors/wechat/events.py); the passive reply, or None ("success")."""
        started = asyncio.get_running_loop().time()
        text = await self.events.turn_text(inbound)
        if text is None:
            return None
        media = await fetch_inbound(
            self.api, self.store.media, inbound, self.settings.media_fetch_seconds
        )
        # WeChat's 5 seconds began with the request: what the profile and the file took is
        # no longer there for the passive reply.
        spent = asyncio.get_running_loop().time() - started
        return await self.answer(replace(inbound, text=text), media, spent_s=spent)

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.profiles is not None:
            await self.profiles.close()
        await self.outbox.stop()
        await self.api.close()

    async def answer(
        self,
        inbound: Inbound,
        media: Sequence[NewMedia | MediaFailure] = (),
        *,
        spent_s: float = 0.0,
    ) -> Passive | None:
        """Run the turn; the passive reply if it was done in time, else None ("success").
        The caller writes it and tells `confirm` whether the write went through."""
        hold = self.settings.passive_reply_seconds + 1.0
        turn = asyncio.ensure_future(
            self.engine.handle(
                CHANNEL,
                inbound.openid,
                inbound.text,
                external_id=inbound.external_id,
                hold_replies_s=hold,
                media=media,
                shared=inbound.shared,
            )
        )
        try:
            wait = max(0.0, self.settings.passive_reply_seconds - spent_s)
            done, _ = await asyncio.wait({turn}, timeout=wait)
        except asyncio.CancelledError:  # the server cancels a handler whose client went away
            self._background.add(turn)
            turn.add_done_callback(functools.partial(self._hung_up, inbound))
            raise
        if not done:
            self._background.add(turn)
            turn.add_done_callback(self._late)
            return None
        result = turn.result()  # a failed turn raises: WeChat retries, the message is stored
        claim = asyncio.ensure_future(self._claim(inbound, result))
        try:
            return await asyncio.shield(claim)
        except asyncio.CancelledError:  # claimed for a response that will never be written
            claim.add_done_callback(self._claimed_in_vain)
            raise

    async def _claim(self, inbound: Inbound, result: TurnResult) -> Passive | None:
        """The turn's first reply (or, on WeChat's retry, the reply its dropped response
        carried), claimed for this response."""
        key = (inbound.openid, inbound.external_id)
        if result.duplicate:
            dropped = self._dropped.pop(key, None)
            if dropped is None:
                return None
            conversation_id, seq = dropped
        elif result.seqs:
            conversation_id, seq = result.conversation_id, result.seqs[0]
        else:
            return None
        first = await self.deliveries.claim_passive(
            conversation_id, seq, fits=self.sender.fits_passive
        )
        text = as_text(first.text, first.payload, limit=None) if first is not None else ""
        if first is None or not text:
            await self._release(conversation_id)
            return None
        return Passive(conversation_id, first.id, seq, passive_text(inbound, text), key)

    async def confirm(self, passive: Passive, written: bool) -> None:
        """After the response: a written reply lets the turn's other replies go; an unwritten
        one goes back to pending, for WeChat's retry or, after the wait, the outbox (the other
        replies stay queued behind it, in order)."""
        work = self._release(passive.conversation_id) if written else self._undeliver(passive)
        await asyncio.shield(self._spawn(work))

    def unwritten(self, passive: Passive) -> None:
        """The response carrying `passive` was abandoned before it was written."""
        self._spawn(self._undeliver(passive))

    async def _undeliver(self, passive: Passive) -> None:
        log.warning("wechat: %s; the reply waits for WeChat's retry", DROPPED)
        wait = self.settings.dropped_reply_wait_seconds
        if await self.deliveries.unclaim_passive(passive.message_id, hold_s=wait, error=DROPPED):
            self._dropped[passive.key] = (passive.conversation_id, passive.seq)
            self._forget_later(passive.key, wait)
        self.outbox.wake()

    def _hung_up(self, inbound: Inbound, turn: asyncio.Future[Any]) -> None:
        """WeChat went away while the turn ran: its reply waits for the retry like a dropped
        one."""
        self._background.discard(turn)
        if turn.cancelled() or turn.exception() is not None:
            if not turn.cancelled():
                log.error("wechat: a turn failed after WeChat hung up: %r", turn.exception())
            return
        result: TurnResult = turn.result()

        async def drop() -> None:
            passive = await self._claim(inbound, result)
            if passive is not None:
                await self._undeliver(passive)

        self._spawn(drop())

    def _claimed_in_vain(self, claim: asyncio.Future[Passive | None]) -> None:
        if not claim.cancelled() and claim.exception() is None and claim.result() is not None:
            passive = claim.result()
            assert passive is not None
            self.unwritten(passive)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("wechat: a delivery step failed: %r", task.exception())

    def _forget_later(self, key: tuple[str, str], after_s: float) -> None:
        """No retry after the wait: the outbox has the reply; forget it here."""
        asyncio.get_running_loop().call_later(after_s + 30, self._dropped.pop, key, None)

    async def _release(self, conversation_id: str) -> None:
        await self.deliveries.release(conversation_id)
        self.outbox.wake()

    def _late(self, turn: asyncio.Future[Any]) -> None:
        """The turn missed the passive window: its replies go out through the API now."""
        self._background.discard(turn)
        if turn.cancelled() or turn.exception() is not None:
            if not turn.cancelled():
                log.error("wechat: a late turn failed: %r", turn.exception())
            return  # held deliveries lapse on their own
        task = asyncio.create_task(self.deliveries.release(turn.result().conversation_id))
        self._background.add(task)
        task.add_done_callback(self._released)

    def _released(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        self.outbox.wake()
