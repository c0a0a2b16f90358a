"""What WeChat says about a follower, kept on the customer (`attributes["wechat"]`, which agents
see in the customer panel): when they followed and unfollowed, the links they opened from the
menu, when WeChat itself closed their customer-service window (45015, 45047) and why, and their
profile from user/info, fetched once per follower.

Since 2021 user/info gives most accounts no nickname, avatar or language: every field is
optional, and a customer's name or language an agent set is never overwritten.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import clock
from bot.store.customers import Customers
from bot.store.records import CustomerRecord
from connectors.outbox import RetryLater, Undeliverable
from connectors.wechat.api import WechatApi
from connectors.wechat.protocol import CHANNEL

log = logging.getLogger(__name__)
ATTRIBUTE = "wechat"
MAX_VIEWS = 20  # the most recent menu links opened, kept on the customer
PROFILE_WAIT_S = 1.0  # how long a turn waits for a first profile (the greeting's language)
UNSUBSCRIBED = "the customer unsubscribed from the Official Account"
LANGUAGES = {"zh_cn": "zh", "zh_tw": "zh", "zh_hk": "zh", "zh": "zh", "en": "en"}


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Follower:
    subscribed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    window_closed_at: datetime | None = None
    window_closed_because: str | None = None
    profile_at: datetime | None = None

    @classmethod
    def of(cls, customer: CustomerRecord) -> Follower:
        data = customer.attributes.get(ATTRIBUTE)
        if not isinstance(data, dict):
            return cls()
        because = data.get("window_closed_because")
        return cls(
            _time(data.get("subscribed_at")),
            _time(data.get("unsubscribed_at")),
            _time(data.get("window_closed_at")),
            because if isinstance(because, str) else None,
            _time(data.get("profile_at")),
        )

    @property
    def following(self) -> bool:
        gone, back = self.unsubscribed_at, self.subscribed_at
        return gone is None or (back is not None and back > gone)

    def closed_because(self, last_customer_at: datetime | None) -> str | None:
        """Why WeChat will not take a customer-service message now, as far as WeChat told us:
        the follower left, or WeChat refused one since the customer last wrote."""
        if not self.following:
            return UNSUBSCRIBED
        closed = self.window_closed_at
        if closed is not None and (last_customer_at is None or closed >= last_customer_at):
            return self.window_closed_because or "WeChat closed the customer-service window"
        return None


class Followers:
    """Reads and records a follower's WeChat state on their customer."""

    def __init__(self, customers: Customers) -> None:
        self.customers = customers

    async def of(self, customer_id: str) -> Follower:
        return Follower.of(await self.customers.get(customer_id))

    async def note(self, customer_id: str, **changes: Any) -> CustomerRecord:
        """Merge `changes` into the customer's `wechat` attributes (None removes a key)."""
        customer = await self.customers.get(customer_id)
        attributes = dict(customer.attributes)
        mine = dict(attributes.get(ATTRIBUTE) or {})
        for key, value in changes.items():
            if value is None:
                mine.pop(key, None)
            else:
                mine[key] = value.isoformat() if isinstance(value, datetime) else value
        attributes[ATTRIBUTE] = mine
        return await self.customers.update(customer_id, attributes=attributes)

    async def subscribed(self, customer_id: str) -> None:
        before = await self.of(customer_id)
        again = before.unsubscribed_at is not None
        await self.note(
            customer_id,
            subscribed_at=clock.now(),
            following=True,
            resubscribed=True if again else None,
        )

    async def unsubscribed(self, customer_id: str) -> None:
        await self.note(customer_id, unsubscribed_at=clock.now(), following=False)

    async def window_closed(self, customer_id: str, because: str) -> None:
        await self.note(customer_id, window_closed_at=clock.now(), window_closed_because=because)

    async def viewed(self, customer_id: str, url: str) -> None:
        customer = await self.customers.get(customer_id)
        data = customer.attributes.get(ATTRIBUTE)
        views = list(data.get("views", [])) if isinstance(data, dict) else []
        views = [*views, {"url": url[:1024], "at": clock.now().isoformat()}][-MAX_VIEWS:]
        await self.note(customer_id, views=views)


class Profiles:
    """Each follower's user/info, fetched once (this process remembers whom it asked; the
    customer remembers across restarts and instances), into the customer's name, language and
    `wechat.profile`."""

    def __init__(self, api: WechatApi, customers: Customers) -> None:
        self.api = api
        self.customers = customers
        self.followers = Followers(customers)
        self._asked: set[str] = set()
        self._running: dict[str, asyncio.Task[None]] = {}

    def fetch_soon(self, openid: str) -> asyncio.Task[None] | None:
        """Fetch the follower's profile in the background, unless it is known or coming."""
        if openid in self._asked:
            return None
        task = self._running.get(openid)
        if task is None:
            task = asyncio.create_task(self._fetch(openid), name="wechat-profile")
            self._running[openid] = task
            task.add_done_callback(lambda _: self._running.pop(openid, None))
        return task

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def ensure(self, openid: str, *, wait_s: float = PROFILE_WAIT_S) -> None:
        """Fetch the follower's profile if nobody has; wait at most `wait_s` for it (the rest
        goes on in the background)."""
        task = self.fetch_soon(openid)
        if task is None:
            return
        try:
            async with asyncio.timeout(wait_s):
                await asyncio.shield(task)
        except TimeoutError:
            log.info("wechat: the profile of a follower is still coming")

    async def _fetch(self, openid: str) -> None:
        try:
            customer = await self.customers.for_identity(CHANNEL, openid)
            if Follower.of(customer).profile_at is not None:
                self._asked.add(openid)
                return
            info = await self.api.user_info(openid)
        except (RetryLater, Undeliverable) as exc:
            log.warning("wechat: no profile for a follower: %s", exc)
            self._asked.add(openid)  # not again from this process; a restart tries again
            return
        except Exception:
            log.exception("wechat: the profile fetch failed")
            return
        self._asked.add(openid)
        updates: dict[str, Any] = {}
        nickname = str(info.get("nickname") or "").strip()
        if nickname and customer.name is None:
            updates["name"] = nickname[:200]
        language = LANGUAGES.get(str(info.get("language") or "").lower())
        if language and customer.language is None:
            updates["language"] = language
        if updates:
            await self.customers.update(customer.id, **updates)
        profile = {
            k: info[k]
            for k in ("subscribe", "subscribe_time", "subscribe_scene", "remark", "language")
            if info.get(k) not in (None, "")
        }
        if nickname:
            profile["nickname"] = nickname[:200]
        await self.followers.note(customer.id, profile_at=clock.now(), profile=profile)
