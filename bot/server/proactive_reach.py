"""Where a proactive message can reach a customer now (bot.proactive.delivery.Reach), from what
the channels know: the widget's live sockets, the customer's identities, WeChat's window and
template messages. It reads every channel, which only the composition root may import, so it
lives here and bot/server/context.py hands it to the scheduler.

"On the site" means a widget socket, on any instance, has the customer's newest web
conversation open: the socket says so in the `OnlineClients` registry (bot/events.py; shared
through Redis by several instances, bot/coordination.py) and refreshes it while it stays open.
When the registry cannot tell (Redis away), the customer counts as off the site, so the message
goes to Telegram or WeChat, or is suppressed "unreachable" for a web-only visitor.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from bot.events import OnlineClients
from bot.proactive.delivery import Route
from bot.store.sql_store import SqlStore
from connectors.channel import Channel
from connectors.wechat.followers import Followers
from connectors.wechat.settings import WechatSettings
from connectors.wechat.window import window_of


class ChannelReach:
    """Routes by the enabled `channels`, the customer's identities in `store`, and `online`:
    the widgets open on every instance."""

    def __init__(
        self, store: SqlStore, channels: Mapping[str, Channel], online: OnlineClients
    ) -> None:
        self.store = store
        self.channels = channels
        self.online = online
        self.followers = Followers(store.customers)

    async def route(
        self, customer_id: str, now: datetime, channels: Collection[str] = ()
    ) -> Route | None:
        known = {ch for ch, _ in await self.store.profiles.identities(customer_id)}
        if channels:
            known &= set(channels)
        if "web" in self.channels and "web" in known:
            watched = await self._watched_web(customer_id)
            if watched is not None:
                return Route("web", "live", watched)
        if "telegram" in self.channels and "telegram" in known:
            return Route("telegram", "push")
        wechat = self.channels.get("wechat")
        if wechat is not None and "wechat" in known:
            return await self._wechat(customer_id, wechat.settings, now)
        return None

    async def _watched_web(self, customer_id: str) -> str | None:
        conv = await self.store.conversations.latest(customer_id, "web")
        if conv is None:
            return None
        return conv.id if await self.online.online(conv.id) else None

    async def _wechat(self, customer_id: str, settings: Any, now: datetime) -> Route | None:
        if not isinstance(settings, WechatSettings):
            return None
        follower = await self.followers.of(customer_id)
        window = await window_of(
            self.store.deliveries, customer_id, settings, now, queued=True, follower=follower
        )
        if window.open:
            return Route("wechat", "window")
        if settings.templates.proactive is not None and follower.following:
            return Route("wechat", "template")
        return None
