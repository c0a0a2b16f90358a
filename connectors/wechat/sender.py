"""Sends one stored message through WeChat's customer-service API, inside the window."""

from __future__ import annotations

from bot import clock
from bot.store.deliveries import Deliveries, DueDelivery
from connectors.channel import OutputChannel
from connectors.outbox import Undeliverable
from connectors.wechat.api import WechatApi
from connectors.wechat.protocol import CHANNEL, as_text
from connectors.wechat.settings import WechatSettings
from connectors.wechat.window import window_of


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
        text = as_text(delivery.message.text, delivery.message.payload)
        if not text:
            return None  # nothing WeChat text can carry (an image-only message)
        await self.api.send_text(delivery.recipient, text)
        return None

    async def send_text(self, recipient: str, text: str) -> str | None:
        await self.api.send_text(recipient, text)
        return None
