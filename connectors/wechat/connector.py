"""The WeChat connector: each webhook message runs through the dialogue engine. WeChat waits
5 seconds for the answer and retries three times after that, so:

- the turn's replies are stored with their deliveries held back for the passive window;
- if the turn is done in `passive_reply_seconds`, its first reply goes in the response itself
  (claimed in the ledger, so the outbox never sends it too) and the rest are released to the
  outbox;
- otherwise the response is "success" (WeChat shows nothing and does not retry) and the replies
  go out through the customer-service API as soon as the turn ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from connectors.channel import ChannelServices
from connectors.outbox import Outbox
from connectors.wechat.api import WechatApi
from connectors.wechat.protocol import CHANNEL, Inbound, as_text, passive_text
from connectors.wechat.replay import ReplayGuard
from connectors.wechat.sender import WechatSender
from connectors.wechat.settings import WechatSettings

log = logging.getLogger(__name__)
SUCCESS = "success"  # WeChat's "received, nothing to show"


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
        )
        sender = WechatSender(self.api, self.deliveries, settings)
        self.outbox = Outbox(self.store, sender, settings.delivery, services.metrics)
        # Shared through Redis when instances share one: a replay to another instance is caught.
        self.replay = ReplayGuard(settings.timestamp_window_seconds, services.redis)
        self._background: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self.outbox.start()

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.outbox.stop()
        await self.api.close()

    async def answer(self, inbound: Inbound) -> str:
        """Run the turn; the XML passive reply if it was done in time, else "success"."""
        hold = self.settings.passive_reply_seconds + 1.0
        turn = asyncio.ensure_future(
            self.engine.handle(
                CHANNEL,
                inbound.openid,
                inbound.text,
                external_id=inbound.external_id,
                hold_replies_s=hold,
            )
        )
        done, _ = await asyncio.wait({turn}, timeout=self.settings.passive_reply_seconds)
        if not done:
            self._background.add(turn)
            turn.add_done_callback(self._late)
            return SUCCESS
        result = turn.result()  # a failed turn raises: WeChat retries, the message is stored
        if result.duplicate or not result.seqs:
            return SUCCESS
        first = await self.deliveries.claim_passive(result.conversation_id, result.seqs[0])
        await self.deliveries.release(result.conversation_id)
        self.outbox.wake()
        if first is None:
            return SUCCESS
        text = as_text(first.text, first.payload)
        return passive_text(inbound, text) if text else SUCCESS

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
