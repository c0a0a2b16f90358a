"""What each WeChat event means to the bot, and what is recorded of it:

- `subscribe`: recorded on the customer (a re-subscribe too); the follower's profile is fetched
  first, waited for at most a second (connectors/wechat/followers.py), so the greeting is in
  their language where WeChat tells it; then the bot greets ("/greet"). For every other message
  the profile is fetched beside the turn, never before the message is stored.
- `unsubscribe`: recorded on the customer; their pending deliveries are cancelled with the reason
  (nothing reaches someone who left; WeChat would refuse it anyway) and the agents are told in
  the open conversation. No reply: WeChat shows none.
- `CLICK`: the menu key's command, intent or text (connectors/wechat/menu.py); a key the config
  does not know is logged and answered as /help rather than read as words.
- `VIEW`: the link is recorded on the customer; no reply.
- anything else (location reports, template delivery reports, scans): logged, no reply.
"""

from __future__ import annotations

import logging

from bot.store.sql_store import SqlStore
from connectors.wechat.followers import UNSUBSCRIBED, Followers, Profiles
from connectors.wechat.menu import actions
from connectors.wechat.protocol import CHANNEL, Inbound
from connectors.wechat.settings import WechatSettings

log = logging.getLogger(__name__)
GREET = "/greet"
UNKNOWN_KEY = "/help"


class Events:
    def __init__(
        self, settings: WechatSettings, store: SqlStore, profiles: Profiles | None
    ) -> None:
        self.store = store
        self.followers = Followers(store.customers)
        self.profiles = profiles
        self.menu = actions(settings.menu)

    async def turn_text(self, inbound: Inbound) -> str | None:
        """What the bot should read for this message or event; None: nothing to answer."""
        if not inbound.is_event:
            self._know_later(inbound.openid)  # never between WeChat and the stored message
            return inbound.text
        event, key = inbound.event, inbound.event_key
        if event == "subscribe":
            customer = await self.store.customers.for_identity(CHANNEL, inbound.openid)
            await self.followers.subscribed(customer.id)
            await self._know(inbound.openid)
            return GREET
        if event == "unsubscribe":
            await self._unsubscribed(inbound.openid)
            return None
        if event == "click":
            self._know_later(inbound.openid)
            action = self.menu.get(key)
            if action is None:
                log.warning(
                    "wechat: a menu key the config does not map: %r; answered as /help", key
                )
                return UNKNOWN_KEY
            return action
        if event == "view":
            found = await self.store.customers.find(CHANNEL, inbound.openid)
            if found is not None:
                await self.followers.viewed(found.id, key)
            return None
        log.info("wechat: event %r (key %r): nothing to answer", event, key[:64])
        return None

    async def _know(self, openid: str) -> None:
        """A new follower's profile before the greeting (its language), waited for briefly."""
        if self.profiles is not None:
            await self.profiles.ensure(openid)

    def _know_later(self, openid: str) -> None:
        if self.profiles is not None:
            self.profiles.fetch_soon(openid)

    async def _unsubscribed(self, openid: str) -> None:
        customer = await self.store.customers.find(CHANNEL, openid)
        if customer is None:
            log.info("wechat: an unknown follower unsubscribed")
            return
        await self.followers.unsubscribed(customer.id)
        cancelled = await self.store.deliveries.cancel_pending(
            customer.id, CHANNEL, f"cancelled: {UNSUBSCRIBED}"
        )
        conversations = [
            c
            for c in await self.store.conversations.of_customer(customer.id)
            if c.channel == CHANNEL and c.status in ("bot", "queued", "assigned")
        ]
        if not conversations:
            return
        ids = [message_id for _, message_id in cancelled]
        unsent = f"; {len(ids)} message(s) not delivered" if ids else ""
        await self.store.messages.append(
            conversations[-1].id,
            "system",
            f"The customer unsubscribed on WeChat{unsent} / 客户已取消关注公众号",
            payload={
                "event": "wechat_unsubscribed",
                "channel": CHANNEL,
                "cancelled": ids,
                "internal": True,
            },
        )
