"""Sends one stored message through WeChat's customer-service API, inside the window. A text
over WeChat's limit goes out in parts (connectors/splitting.py), each recorded in the ledger and
each counted against the window.

The limit: the customer-service send API answers 45002 "content size out of limit" above 2048
bytes of UTF-8 content. The official page (Service_Center_messages) does not state it; the
figure is the one WeChat's developer community reports (developers.weixin.qq.com/community)."""

from __future__ import annotations

from bot import clock
from bot.store.deliveries import Deliveries, DueDelivery
from bot.store.records import MessageRecord
from connectors.channel import OutputChannel
from connectors.outbox import Undeliverable
from connectors.splitting import split_text, utf8_bytes
from connectors.wechat.api import WechatApi
from connectors.wechat.protocol import CHANNEL, as_text
from connectors.wechat.settings import WechatSettings
from connectors.wechat.window import window_of

MAX_TEXT_BYTES = 2048  # one text message's content, UTF-8


def fits_one_message(message: MessageRecord) -> bool:
    """Whether the message's text goes out as one WeChat text (so a passive reply may carry
    it); a longer one is left to the sender, which sends it in parts."""
    text = as_text(message.text, message.payload, limit=None)
    return len(split_text(text, MAX_TEXT_BYTES, utf8_bytes)) <= 1


class WechatSender(OutputChannel):
    """Inside the customer-service window only, and as one text: WeChat's text carries no
    buttons (they become lines) and this sender no images."""

    channel = CHANNEL
    label = "WeChat"

    def __init__(self, api: WechatApi, deliveries: Deliveries, settings: WechatSettings) -> None:
        self.api = api
        self.deliveries = deliveries
        self.settings = settings

    async def send(self, delivery: DueDelivery) -> str | None:
        assert delivery.recipient is not None
        now = clock.now()
        window = await window_of(self.deliveries, delivery.customer_id, self.settings, now)
        reason = window.why_closed(now)
        if reason is not None:
            raise Undeliverable(reason)
        msg = delivery.message
        parts = split_text(as_text(msg.text, msg.payload, limit=None), MAX_TEXT_BYTES, utf8_bytes)
        if not parts:
            return None  # nothing WeChat text can carry (an image-only message)
        todo = [n for n in range(1, len(parts) + 1) if n not in delivery.parts_sent]
        if len(todo) > window.remaining:  # all or nothing: never half an answer
            raise Undeliverable(
                f"the message needs {len(todo)} WeChat messages; the window allows "
                f"{window.remaining} until the customer writes again"
            )
        for n in todo:
            await self.api.send_text(delivery.recipient, parts[n - 1])
            if len(parts) > 1:
                await self.deliveries.part_sent(msg.id, n, len(parts))
        return None

    async def send_text(self, recipient: str, text: str) -> str | None:
        for part in split_text(text, MAX_TEXT_BYTES, utf8_bytes):
            await self.api.send_text(recipient, part)
        return None
