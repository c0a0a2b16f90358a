"""What a customer's channel allows the agents: when a message may still be sent (WeChat's
48-hour customer-service window, say), why not when it is closed (the window ran out, its
quota is used up, the platform refused, the customer left the channel), what still reaches the
customer then (a template message), and how long one message may be.

Defined here, on the agents' side, and implemented by each channel (connectors/); the
composition root hands the agent API one `ChannelLimits` per registered channel, so the console
knows a channel's rules without importing the channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class MessagingWindow:
    """Whether, and until when, the channel lets a message reach this customer now."""

    channel: str
    last_customer_at: datetime | None
    closes_at: datetime | None
    remaining: int  # messages still allowed in the window
    closed_because: str | None  # None while the window is open
    # While closed: how an agent's message still reaches the customer (WeChat's template
    # message, "template"), or None: the message would not be delivered, so it is refused.
    fallback: str | None = None

    @property
    def refuses(self) -> bool:
        """Whether an agent's message must be refused now (closed, and no other way)."""
        return self.closed_because is not None and self.fallback is None

    def to_dict(self) -> dict[str, object]:
        """The agent API's `channel_window` object (the console reads it)."""
        return {
            "channel": self.channel,
            "last_customer_at": self.last_customer_at,
            "closes_at": self.closes_at,
            "remaining": self.remaining,
            "open": self.closed_because is None and self.remaining > 0,
            "closed_because": self.closed_because,
            "fallback": self.fallback if self.closed_because is not None else None,
        }


class ChannelLimits(Protocol):
    """A channel's constraints on what agents send (implemented by connectors.channel.Channel)."""

    @property
    def name(self) -> str: ...

    @property
    def max_text_chars(self) -> int | None:
        """The longest text one message can carry on the channel; None: no limit of its own."""
        ...

    async def messaging_window(self, customer_id: str, now: datetime) -> MessagingWindow | None:
        """The window for a message sent now, counting messages still waiting to go; None when
        the channel has no window (the customer can always be reached)."""
        ...
