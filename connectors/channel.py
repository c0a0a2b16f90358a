"""The channel plug-in interface, in the spirit of Rasa's InputChannel and OutputChannel.

A channel is one folder under connectors/ with a `channel.py` that names its class as `CHANNEL`,
and one section under `connectors:` in config.yml (see connectors/registry.py, docs/channels.md).

- Inbound: `name` (also the namespace of its customers' identities in the store: a customer is
  known by (channel name, the channel's id for them)), `routes()` mounted when the app is built,
  and the `start`/`stop` lifecycle, given the services it works with at start-up.
- Outbound: a channel the server must call to reach the customer (Telegram, WeChat) sends through
  an `OutputChannel` driven by the outbox; channels the customer's client reads from (REST, the
  widget) have none. Every rich message (buttons, an image) has a text fallback in the base class,
  so a new channel works as soon as it can send text.
- Settings: `settings_model`, the channel's own pydantic model of its `connectors.<name>`
  section (connectors/<name>/settings.py), validated at start-up by the registry.
- The constraints the agents need (a messaging window, a length limit) are part of the interface
  (`limits`, a handoff.channel_limits.ChannelLimits): properties of the channel kind, known for
  every channel whether enabled or not, so the agent side never imports a channel.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from aiohttp import web
from redis.asyncio import Redis

from bot.config import Config
from bot.dialogue.engine import DialogueEngine
from bot.events import LocalOnlineClients, LocalSignalBus, OnlineClients, SignalBus
from bot.http.rate_limit import Limits
from bot.metrics import Metrics
from bot.store.deliveries import DueDelivery
from bot.store.media import MediaRecord, MediaStore
from bot.store.sql_store import SqlStore
from connectors.settings import ChannelSettings
from handoff.channel_limits import ChannelLimits, MessagingWindow


@dataclass(frozen=True)
class ChannelServices:
    """What the composition root hands every channel when the app starts."""

    config: Config
    engine: DialogueEngine
    store: SqlStore
    metrics: Metrics
    limits: Limits  # per-customer message limits
    media_dir: Path  # the knowledge base's images and videos
    # Set when instances share Redis (server.redis_url): leases, replay guards.
    redis: Redis | None
    # Every registered channel by name, for what crosses channels (the widget's Telegram link).
    channels: Mapping[str, Channel]
    # Typing and read receipts to and from the agents (bot/events.py; Redis-backed when shared).
    signals: SignalBus = field(default_factory=LocalSignalBus)
    # Where the widget says it is open, so a proactive message on any instance finds it.
    online: OnlineClients = field(default_factory=LocalOnlineClients)


@dataclass(frozen=True)
class TextLimit:
    """The limits of a channel with no messaging window: at most a length of its own."""

    name: str
    max_text_chars: int | None = None

    async def messaging_window(self, customer_id: str, now: datetime) -> MessagingWindow | None:
        return None


class Channel(ABC):
    """One channel: its settings, routes, lifecycle, and its constraints for the agents.

    Built from the config and its validated section when the app is built (no I/O), started
    with the services when the app starts, stopped when it stops. Subclasses set `name`,
    `label` and `settings_model`."""

    name: ClassVar[str]
    label: ClassVar[str]  # how agents read the channel's name: "Telegram", "WeChat"
    settings_model: ClassVar[type[ChannelSettings]]
    # The longest text one message can carry here; None: no limit of the channel's own.
    max_text_chars: ClassVar[int | None] = None

    def __init__(self, config: Config, settings: ChannelSettings) -> None:
        self.config = config
        self.settings = settings
        self._services: ChannelServices | None = None

    @classmethod
    def limits(cls, settings: ChannelSettings, store: SqlStore) -> ChannelLimits:
        """The channel's rules for agents' messages (its length; a window where it has one),
        built for every channel kind, enabled or not: a conversation outlives the channel's
        configuration. By default a length and no window."""
        return TextLimit(cls.name, cls.max_text_chars)

    def routes(self) -> web.RouteTableDef:
        """The HTTP routes the channel serves (webhooks, sockets, pages); none by default."""
        return web.RouteTableDef()

    async def start(self, services: ChannelServices) -> None:
        """Begin work (connect, poll, deliver); must not block the server's start-up.
        Subclasses call this first."""
        self._services = services

    @property
    def services(self) -> ChannelServices:
        """The services given at start-up. The server answers requests only once every channel
        has started, so a route handler always has them."""
        if self._services is None:
            raise RuntimeError(f"the {self.name} channel has not been started")
        return self._services

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Finish what is in hand and release what `start` took."""


@runtime_checkable
class DeepLinking(Protocol):
    """A channel that can bring a customer known elsewhere into its chat (Telegram's t.me
    deep link): what the widget's `link` frame asks of it."""

    def can_link(self) -> bool:
        """Whether a link can be made now (the bot is connected and knows its name)."""
        ...

    async def link_url(self, customer_id: str) -> tuple[str, str, Any]:
        """The URL, its code, and when the code expires."""
        ...


class OutputChannel(ABC):
    """Sends one stored message to the customer on a pushed channel (the outbox calls `send`).

    Raise connectors.outbox.RetryLater or Undeliverable. Only `send_text` is required: buttons
    and images fall back to text, as in Rasa's OutputChannel. A channel with a richer mapping, or
    with rules of its own (a window, partial retries), overrides `send`."""

    channel: ClassVar[str]
    label: ClassVar[str]
    # The media store, for an agent's attachments (`payload["media"]`); set by the channel.
    media: MediaStore | None = None

    @abstractmethod
    async def send_text(self, recipient: str, text: str) -> str | None:
        """Send text; the channel's id for the message, if any."""

    async def send_text_with_buttons(
        self, recipient: str, text: str, buttons: Sequence[Mapping[str, Any]]
    ) -> str | None:
        """Text with buttons; by default the buttons become lines the customer can type back."""
        titles = [str(b.get("title", "")) for b in buttons if b.get("title")]
        return await self.send_text(recipient, "\n".join([text, *(f"· {t}" for t in titles)]))

    async def send_image(self, recipient: str, url: str, caption: str | None) -> str | None:
        """An image (or video) by URL; by default its caption and address as text."""
        return await self.send_text(recipient, "\n".join(p for p in (caption, url) if p))

    async def send_media(
        self, recipient: str, media: MediaRecord, data: bytes, caption: str | None
    ) -> str | None:
        """A file from the media store; by default a note that it cannot be shown here yet."""
        name = media.filename or media.kind
        note = f"[{media.kind}: {name}] (sent by the agent; this channel cannot show files yet)"
        return await self.send_text(recipient, "\n".join(p for p in (caption, note) if p))

    async def send(self, delivery: DueDelivery) -> str | None:
        """The stored message: its text (with buttons), then its image or video, then its
        attachments from the media store."""
        assert delivery.recipient is not None
        msg, to = delivery.message, delivery.recipient
        ref = None
        buttons = msg.payload.get("buttons") or []
        if msg.text.strip():
            ref = await (
                self.send_text_with_buttons(to, msg.text, buttons)
                if buttons
                else self.send_text(to, msg.text)
            )
        for kind in ("image", "video"):
            url = msg.payload.get(kind)
            if url:
                caption = msg.payload.get("caption")
                await self.send_image(to, str(url), str(caption) if caption else None)
        for item in msg.payload.get("media") or []:
            if not item.get("id"):
                continue
            if self.media is None:
                raise RuntimeError(f"{self.channel}: no media store for attachment {item['id']}")
            record, data = await self.media.read(str(item["id"]))
            ref = await self.send_media(to, record, data, None) or ref
        return ref
