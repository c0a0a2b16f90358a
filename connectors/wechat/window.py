"""WeChat's customer-service window: after the customer's last message, the API may send only
`window_messages` messages within `window_hours`. Checked before every send, and shown to agents
so they know before they type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import WechatSection
from bot.store.deliveries import Deliveries
from connectors.wechat.protocol import CHANNEL


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
    settings: WechatSection,
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
