"""WeChat's customer-service window: after the customer's last message, the API may send only
`window_messages` messages within `window_hours`. Checked before every send, and shown to agents
so they know before they type. WeChat has the last word: a follower who unsubscribed, or a send
WeChat refused with 45015 or 45047 since the customer last wrote, closes the window whatever our
own count says (connectors/wechat/followers.py). While it is closed, a template message
(connectors.wechat.templates) may still carry an agent's reply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store.deliveries import Deliveries
from connectors.wechat.followers import Follower, Followers
from connectors.wechat.protocol import CHANNEL, MAX_TEXT_CHARS
from connectors.wechat.settings import WechatSettings
from handoff.channel_limits import MessagingWindow


@dataclass(frozen=True)
class Window:
    last_customer_at: datetime | None
    closes_at: datetime | None
    remaining: int
    refused: str | None = None  # why WeChat itself will take nothing now (followers.py)

    @property
    def open(self) -> bool:
        return self.remaining > 0 and self.refused is None

    def why_closed(self, now: datetime) -> str | None:
        if self.refused is not None:
            return self.refused
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
    follower: Follower | None = None,
) -> Window:
    """`queued`: count messages still waiting to be sent too (before accepting a new one);
    `follower`: what WeChat told us about the customer (unsubscribed, a refusal)."""
    last, used = await deliveries.window(customer_id, CHANNEL, queued=queued)
    refused = follower.closed_because(last) if follower is not None else None
    if last is None:
        return Window(None, None, 0, refused)
    closes = last + timedelta(hours=settings.window_hours)
    remaining = 0 if now >= closes or refused else max(0, settings.window_messages - used)
    return Window(last, closes, remaining, refused)


class WechatLimits:
    """WeChat's rules for agents' messages (handoff.channel_limits.ChannelLimits): the window
    above, read from the deliveries, and the length of one text. Known whether or not WeChat
    is enabled: its conversations stay in the console after it is turned off."""

    name = CHANNEL
    max_text_chars = MAX_TEXT_CHARS

    def __init__(
        self, settings: WechatSettings, deliveries: Deliveries, followers: Followers
    ) -> None:
        self.settings = settings
        self.deliveries = deliveries
        self.followers = followers

    async def messaging_window(self, customer_id: str, now: datetime) -> MessagingWindow:
        follower = await self.followers.of(customer_id)
        window = await window_of(
            self.deliveries, customer_id, self.settings, now, queued=True, follower=follower
        )
        closed = window.why_closed(now)
        # An agent's reply may still go as a template message, to a follower only.
        template = self.settings.templates.agent_replied is not None and follower.following
        return MessagingWindow(
            CHANNEL,
            window.last_customer_at,
            window.closes_at,
            window.remaining,
            closed,
            "template" if closed is not None and template else None,
        )
