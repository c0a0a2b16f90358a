"""WeChat's customer-service window: after the customer's last message, the API may send only
`window_messages` messages within `window_hours`. Checked before every send, and shown to agents
so they know before they type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store.deliveries import Deliveries
from connectors.wechat.protocol import CHANNEL, MAX_TEXT_CHARS
from connectors.wechat.settings import WechatSettings
from handoff.channel_limits import MessagingWindow


@dataclass(frozen=True)
class Window:
    last_customer_at: datetime | None
    closes_at: datetime | None
    remaining: int

    @property
    def open(self) -> bool:
        return self.remaining > 0

    def why_closed(self, now: datetime) -> str | None:
        if self.last_customer_at is None or self.closes_at is None:
            return "the customer has not written on WeChat"
        if now >= self.closes_at:
            return "WeChat's 48-hour window closed; the customer must write again first"
        if self.remaining <= 0:
            return "WeChat allows no more messages until the customer writes again"
        return None

    def to_dict(self) -> dict[str, object]:
        return {
            "channel": CHANNEL,
            "last_customer_at": self.last_customer_at,
            "closes_at": self.closes_at,
            "remaining": self.remaining,
            "open": self.open,
        }


async def window_of(
    deliveries: Deliveries,
    customer_id: str,
    settings: WechatSettings,
    now: datetime,
    *,
    queued: bool = False,
) -> Window:
    """`queued`: count messages still waiting to be sent too (before accepting a new one)."""
    last, used = await deliveries.window(customer_id, CHANNEL, queued=queued)
    if last is None:
        return Window(None, None, 0)
    closes = last + timedelta(hours=settings.window_hours)
    remaining = 0 if now >= closes else max(0, settings.window_messages - used)
    return Window(last, closes, remaining)


class WechatLimits:
    """WeChat's rules for agents' messages (handoff.channel_limits.ChannelLimits): the window
    above, read from the deliveries, and the length of one text. Known whether or not WeChat
    is enabled: its conversations stay in the console after it is turned off."""

    name = CHANNEL
    max_text_chars = MAX_TEXT_CHARS

    def __init__(self, settings: WechatSettings, deliveries: Deliveries) -> None:
        self.settings = settings
        self.deliveries = deliveries

    async def messaging_window(self, customer_id: str, now: datetime) -> MessagingWindow:
        window = await window_of(self.deliveries, customer_id, self.settings, now, queued=True)
        return MessagingWindow(
            CHANNEL,
            window.last_customer_at,
            window.closes_at,
            window.remaining,
            window.why_closed(now),
        )
