"""WeChat's side of the webhook, as WeChat's servers behave (plaintext mode): each message is a
signed XML post; an answer that is not HTTP 200 with "success" or a reply XML, or that does not
come within 5 s, is tried again with the same MsgId, 3 tries in all, one every 5 s; after the
last WeChat gives up. Also a post whose connection WeChat closes without reading the answer.
And what reached the customer: passive replies (from the answers) plus the customer-service
messages the API stand-in took."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp

from bot.store.deliveries import Deliveries, DeliveryState
from bot.store.records import MessageRecord
from bot.store.sql_store import SqlStore
from tests.kit.invariants import Ledger
from tests.standins.wechat_api import (
    WechatStandIn,
    parse_reply_xml,
    signed_query,
    text_message_xml,
)

HOOK = "/webhooks/wechat"
TRIES = 3  # WeChat: "五秒内收不到响应会断掉连接，并且重新发起请求，总共重试三次"
TRY_S = 5.0


@dataclass
class Post:
    msg_id: str
    text: str
    tries: list[int | None] = field(default_factory=list)  # HTTP status, None: no answer
    passive: str | None = None  # the passive reply's Content, if the answer carried one
    accepted: bool = False


class WechatUser:
    """One follower writing to the account at `url` (the server's base URL)."""

    def __init__(
        self,
        url: str,
        token: str,
        account: str,
        openid: str,
        session: aiohttp.ClientSession,
        wx: WechatStandIn,
        ledger: Ledger,
        first_msg_id: int,
    ) -> None:
        self.url, self.token, self.account, self.openid = url, token, account, openid
        self.session, self.wx, self.ledger = session, wx, ledger
        self.next_id = first_msg_id
        self.posts: list[Post] = []
        ledger.accepted[("wechat", openid)]

    def message(self, text: str) -> tuple[Post, dict[str, str], str]:
        """A new message: its record, the signed query and the XML body (WeChat knows the user
        wrote: its 48-hour window opens)."""
        self.next_id += 1
        post = Post(str(self.next_id), text)
        self.posts.append(post)
        xml = text_message_xml(self.account, self.openid, text, self.next_id)
        self.wx.observe(xml)
        return post, signed_query(self.token, openid=self.openid), xml

    async def say(self, text: str) -> Post:
        """Post a message with WeChat's retries; the post (accepted or given up)."""
        post, query, xml = self.message(text)
        await self.deliver(post, query, xml)
        return post

    async def deliver(
        self, post: Post, query: dict[str, str], xml: str, tries: int = TRIES
    ) -> None:
        """WeChat's tries of one message (each the same request, resent)."""
        for _ in range(tries):
            started = time.monotonic()
            status, body = None, ""
            try:
                async with self.session.post(
                    self.url + HOOK,
                    params=query,
                    data=xml.encode(),
                    timeout=aiohttp.ClientTimeout(total=TRY_S),
                ) as r:
                    status, body = r.status, await r.text()
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.ledger.statuses[status or 0] += 1
            post.tries.append(status)
            if status == 200 and (body.strip() in ("", "success") or body.startswith("<xml")):
                post.accepted = True
                post.passive = parse_reply_xml(body).get("Content")
                self.ledger.accepted[("wechat", self.openid)].append(post.msg_id)
                return
            await asyncio.sleep(max(0.0, TRY_S - (time.monotonic() - started)))

    async def hang_up(self, query: dict[str, str], xml: str) -> None:
        """The request sent whole, the connection closed before the answer is read."""
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        await post_and_hang_up(host, int(port), query, xml)

    def received(self) -> tuple[list[str], list[str]]:
        """What reached the customer: the passive replies and the API messages, each in order."""
        passive = [p.passive for p in self.posts if p.passive is not None]
        return passive, self.wx.texts(self.openid)


async def replies(
    store: SqlStore, openid: str
) -> tuple[list[MessageRecord], dict[int, DeliveryState]]:
    """The bot's stored messages to `openid` (in order) and their deliveries."""
    customer = await store.customers.find("wechat", openid)
    if customer is None:
        return [], {}
    out: list[MessageRecord] = []
    states: dict[int, DeliveryState] = {}
    for conv in await store.conversations.of_customer(customer.id):
        out += [
            m
            for m in await store.messages.of(conv.id)
            if m.sender != "customer" and not m.payload.get("internal")
        ]
        states |= await Deliveries(store.db).states(conv.id)
    return out, states


async def delivered_once(store: SqlStore, user: WechatUser) -> str | None:
    """None if every stored reply to the user reached them exactly once, in order (passive
    replies and API messages each in the order stored, and marked sent); else what is not so
    (yet)."""
    messages, states = await replies(store, user.openid)
    unsent = [
        (m.id, states.get(m.id))
        for m in messages
        if states.get(m.id) is None or states[m.id].status != "sent"
    ]
    if unsent:
        return f"{user.openid}: not sent yet: {unsent}"
    passive, pushed = user.received()
    want_passive = [m.text.strip() for m in messages if states[m.id].via == "passive"]
    want_pushed = [m.text.strip() for m in messages if states[m.id].via != "passive"]
    if len(passive) != len(want_passive) or not all(
        got.startswith(want) for got, want in zip(passive, want_passive, strict=False)
    ):
        return f"{user.openid}: passive replies {passive} for stored {want_passive}"
    if len(pushed) != len(want_pushed) or not all(
        got.startswith(want) for got, want in zip(pushed, want_pushed, strict=False)
    ):
        return f"{user.openid}: API messages {pushed} for stored {want_pushed}"
    return None


async def post_and_hang_up(host: str, port: int, query: dict[str, str], xml: str) -> None:
    """WeChat's side gives up: the webhook request sent whole, the connection closed unread."""
    reader, writer = await asyncio.open_connection(host, port)
    data = xml.encode()
    writer.write(
        (
            f"POST {HOOK}?{urlencode(query)} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        + data
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    del reader
