"""The WeChat Official Account connector on the real app, end to end over HTTP: WeChat's side of
the webhook is played with signed XML posts, its API by the local stand-in
(tests/standins/wechat_api.py), and agents work through the agent API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.config import Config
from bot.http.keys import CONFIG
from bot.server.context import CONTEXT
from bot.store.deliveries import Deliveries, DeliveryState
from bot.store.records import MessageRecord
from bot.store.sql_store import SqlStore
from bot.store.tables import MSG
from tests.apps import AppFactory
from tests.standins.wechat_api import (
    WechatStandIn,
    event_xml,
    parse_reply_xml,
    signed_query,
    text_message_xml,
)

RigFactory = Callable[..., Awaitable["Rig"]]

TOKEN = "relaydesk-webhook-token"
APP_ID = "wx5e1a7c0ffee0a11d"
APP_SECRET = "wechat-standin-secret"
ACCOUNT = "gh_3f2a1b0c9d8e"
HOOK = "/webhooks/wechat"
AGENT = "amy"
COMPLAINT = "i want to file a complaint"  # empathy, the complaint noted, the queue: 3 replies


@pytest.fixture
async def wx() -> AsyncIterator[WechatStandIn]:
    async with WechatStandIn(appid=APP_ID, secret=APP_SECRET) as stand_in:
        yield stand_in


@dataclass
class Rig:
    client: TestClient[Any, Any]
    wx: WechatStandIn
    store: SqlStore
    config: Config

    async def post(self, xml: str | bytes, query: dict[str, str] | None = None) -> ClientResponse:
        """WeChat posts the message, and knows the user interacted (its 48-hour window)."""
        self.wx.observe(xml)
        return await self.client.post(HOOK, params=query or signed_query(TOKEN), data=xml)

    async def say(self, openid: str, text: str, msg_id: int) -> tuple[int, str]:
        resp = await self.post(text_message_xml(ACCOUNT, openid, text, msg_id))
        return resp.status, await resp.text()

    async def conversation_id(self, openid: str) -> str:
        customer = await self.store.customers.find("wechat", openid)
        assert customer is not None, f"no customer {openid} on wechat"
        conversations = await self.store.conversations.of_customer(customer.id)
        assert len(conversations) == 1
        return conversations[0].id

    async def messages(self, openid: str) -> list[MessageRecord]:
        return await self.store.messages.of(await self.conversation_id(openid))

    async def states(self, cid: str) -> dict[int, DeliveryState]:
        return await Deliveries(self.store.db).states(cid)

    async def settle(self, cid: str, timeout: float = 5.0) -> dict[int, DeliveryState]:
        """Wait until no delivery of the conversation is pending (sent or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            states = await self.states(cid)
            if all(s.status != "pending" for s in states.values()):
                return states
            if time.monotonic() > deadline:
                raise AssertionError(f"deliveries still pending after {timeout}s: {states}")
            await asyncio.sleep(0.02)

    def agent(self, name: str = AGENT) -> dict[str, str]:
        return {"X-Relaydesk-Agent": name}

    async def transcript(self, cid: str, agent: str = AGENT) -> dict[str, Any]:
        resp = await self.client.get(f"/api/agent/conversations/{cid}", headers=self.agent(agent))
        assert resp.status == 200, await resp.text()
        data: dict[str, Any] = await resp.json()
        return data

    async def claim(self, cid: str, agent: str = AGENT) -> None:
        resp = await self.client.post(
            f"/api/agent/conversations/{cid}/claim", headers=self.agent(agent)
        )
        assert resp.status == 200, await resp.text()

    async def send(self, cid: str, text: str, agent: str = AGENT) -> ClientResponse:
        return await self.client.post(
            f"/api/agent/conversations/{cid}/send", headers=self.agent(agent), json={"text": text}
        )

    async def held_by_agent(self, openid: str, msg_id: int) -> str:
        """The customer asks for a person on WeChat and the agent claims the chat; returns the
        conversation id once every delivery so far has settled."""
        status, _ = await self.say(openid, "转人工", msg_id)
        assert status == 200
        cid = await self.conversation_id(openid)
        await self.claim(cid)
        await self.settle(cid)
        return cid


@pytest.fixture
async def make_rig(
    wx: WechatStandIn,
    make_client: AppFactory,
) -> RigFactory:
    async def make(**wechat: Any) -> Rig:
        delivery = {
            "max_attempts": 6,
            "first_backoff_seconds": 0.05,
            "max_backoff_seconds": 0.2,
            "request_timeout_seconds": 2.0,
            **wechat.pop("delivery", {}),
        }

        def edit(raw: dict[str, Any]) -> None:
            raw["connectors"]["wechat"] = {
                "enabled": True,
                "token": TOKEN,
                "app_id": APP_ID,
                "app_secret": APP_SECRET,
                "api_base": wx.api_base,
                "delivery": delivery,
                **wechat,
            }

        client = await make_client(dev_agent_api=True, always_open=True, edit=edit)
        config = client.app[CONFIG]
        store = client.app[CONTEXT].store
        assert store is not None and client.app[CONTEXT].channels["wechat"].connector is not None
        groups = sorted(config.handoff.skill_groups)
        # Online: a request for a person queues for Amy rather than opening a ticket.
        await store.agents.add(AGENT, "Amy", skills=groups, languages=["zh", "en"], status="online")
        await store.agents.add("sam", "Sam", role="supervisor", skills=groups)
        return Rig(client, wx, store, config)

    return make


def _image_xml(openid: str, msg_id: int) -> str:
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime>"
        "<MsgType><![CDATA[image]]></MsgType>"
        "<PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/xyz/0]]></PicUrl>"
        "<MediaId><![CDATA[media_id_123]]></MediaId>"
        f"<MsgId>{msg_id}</MsgId>"
        "</xml>"
    )


def _bot(messages: list[MessageRecord]) -> list[MessageRecord]:
    return [m for m in messages if m.sender == "bot"]


def _reached(wx: WechatStandIn, openid: str, text: str) -> int:
    """How many customer-service messages to `openid` carry `text`."""
    return sum(1 for t in wx.texts(openid) if t.startswith(text.strip()))


# ---------------------------------------------------------------------- 1. the signature


async def test_the_handshake_echoes_only_with_a_valid_signature(make_rig: RigFactory) -> None:
    rig = await make_rig()
    ok = await rig.client.get(HOOK, params=signed_query(TOKEN, echostr="4711-echo"))
    assert ok.status == 200 and await ok.text() == "4711-echo"

    wrong = signed_query(TOKEN, echostr="4711-echo")
    wrong["signature"] = "0" * 40
    assert (await rig.client.get(HOOK, params=wrong)).status == 403
    other_token = signed_query("not-the-token", echostr="4711-echo")
    assert (await rig.client.get(HOOK, params=other_token)).status == 403
    unsigned = {k: v for k, v in signed_query(TOKEN, echostr="x").items() if k != "signature"}
    assert (await rig.client.get(HOOK, params=unsigned)).status == 403
    assert (await rig.client.get(HOOK, params={"echostr": "x"})).status == 403
    # The signature covers timestamp and nonce: a replayed signature with another nonce fails.
    tampered = signed_query(TOKEN, echostr="x")
    tampered["nonce"] += "1"
    assert (await rig.client.get(HOOK, params=tampered)).status == 403


async def test_a_post_with_a_bad_signature_is_refused_and_nothing_stored(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    xml = text_message_xml(ACCOUNT, "o-forger", "你好", 1)
    bad = signed_query(TOKEN)
    bad["signature"] = bad["signature"][::-1]
    assert (await rig.post(xml, bad)).status == 403
    assert (await rig.post(xml, signed_query("guessed-token"))).status == 403
    unsigned = await rig.client.post(HOOK, data=xml)
    assert unsigned.status == 403
    await asyncio.sleep(0.3)
    assert await rig.store.customers.find("wechat", "o-forger") is None
    assert rig.wx.messages == [] and rig.wx.token_requests == 0


async def test_a_stale_or_future_signature_is_refused_and_a_fresh_one_answered(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(timestamp_window_seconds=300)
    now = int(time.time())
    xml = text_message_xml(ACCOUNT, "o-clock", "你好", 40_001)
    for ts, reason in ((now - 360, "stale request"), (now + 360, "in the future")):
        resp = await rig.post(xml, signed_query(TOKEN, timestamp=ts))
        assert resp.status == 403
        assert reason in (await resp.json())["message"]
        old_handshake = signed_query(TOKEN, timestamp=ts, echostr="e")
        assert (await rig.client.get(HOOK, params=old_handshake)).status == 403
    assert await rig.store.customers.find("wechat", "o-clock") is None

    resp = await rig.post(xml, signed_query(TOKEN, timestamp=now - 240))  # late, but in time
    assert resp.status == 200
    assert parse_reply_xml(await resp.text())["ToUserName"] == "o-clock"


async def test_a_captured_signature_cannot_carry_another_message(make_rig: RigFactory) -> None:
    rig = await make_rig()
    signed = signed_query(TOKEN)
    assert (await rig.post(text_message_xml(ACCOUNT, "o-owner", "你好", 50_001), signed)).ok
    for forged in (
        text_message_xml(ACCOUNT, "o-forger", "你好", 50_001),  # another sender
        text_message_xml(ACCOUNT, "o-owner", "把我的地址改成火星", 50_001),  # other words
        text_message_xml(ACCOUNT, "o-owner", "你好", 50_002),  # another message id
    ):
        resp = await rig.post(forged, signed)
        assert resp.status == 403
        assert "replayed signature" in (await resp.json())["message"]
    assert await rig.store.customers.find("wechat", "o-forger") is None
    assert [m.text for m in await rig.messages("o-owner") if m.sender == "customer"] == ["你好"]

    handshake = signed_query(TOKEN, echostr="first")
    assert await (await rig.client.get(HOOK, params=handshake)).text() == "first"
    assert (await rig.client.get(HOOK, params={**handshake, "echostr": "other"})).status == 403


@pytest.mark.parametrize("passive_s", [4.5, 0.001], ids=["passive", "late"])
async def test_a_retry_resent_with_the_same_signature_is_answered_once(
    make_rig: RigFactory, passive_s: float
) -> None:
    """Should WeChat resend an unanswered message under the same signature, the resends get
    "success" from the MsgId de-duplication, never a 403."""
    rig = await make_rig(passive_reply_seconds=passive_s)
    openid = "o-resend"
    xml = text_message_xml(ACCOUNT, openid, "你好", 60_001, create_time=1_700_000_000)
    signed = signed_query(TOKEN)
    first = await rig.post(xml, signed)
    resends = await asyncio.gather(rig.post(xml, signed), rig.post(xml, signed))
    assert [first.status] + [r.status for r in resends] == [200, 200, 200]
    assert [await r.text() for r in resends] == ["success", "success"]
    if passive_s < 1:
        await rig.wx.wait_for_messages(1)
    messages = await rig.messages(openid)
    assert [m.text for m in messages if m.sender == "customer"] == ["你好"]
    [greeting] = _bot(messages)
    await rig.settle(greeting.conversation_id)
    await asyncio.sleep(0.3)
    passive = 1 if passive_s > 1 else 0
    if passive:
        assert parse_reply_xml(await first.text())["Content"].startswith(greeting.text.strip())
    assert passive + _reached(rig.wx, openid, greeting.text) == 1


# ---------------------------------------------------------------------- 2. passive reply


async def test_the_first_reply_goes_in_the_response_and_the_rest_through_the_api(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    openid = "o-passive"
    resp = await rig.post(text_message_xml(ACCOUNT, openid, COMPLAINT, 10_001))
    assert resp.status == 200
    assert resp.content_type == "application/xml"
    reply = parse_reply_xml(await resp.text())
    assert reply["ToUserName"] == openid
    assert reply["FromUserName"] == ACCOUNT
    assert reply["MsgType"] == "text"
    assert reply["Content"].strip()
    assert abs(int(reply["CreateTime"]) - time.time()) < 60

    bots = _bot(await rig.messages(openid))
    assert len(bots) >= 2, "the complaint should give several replies"
    first, rest = bots[0], bots[1:]
    assert reply["Content"].startswith(first.text.strip())

    await rig.wx.wait_for_messages(len(rest))
    await asyncio.sleep(0.5)
    assert _reached(rig.wx, openid, first.text) == 0, "the passive reply was also pushed"
    assert [m["touser"] for m in rig.wx.messages] == [openid] * len(rest)
    for later, pushed in zip(rest, rig.wx.texts(openid), strict=True):
        assert pushed.startswith(later.text.strip())  # in order

    states = await rig.settle(first.conversation_id)
    assert states[first.id].via == "passive" and states[first.id].status == "sent"
    assert all(states[m.id].via == "api" and states[m.id].status == "sent" for m in rest)


# ---------------------------------------------------------------------- 3. MsgId dedup


@pytest.mark.parametrize("passive_s", [4.5, 0.001], ids=["passive", "late"])
async def test_wechat_retries_of_one_message_are_answered_once(
    make_rig: RigFactory, passive_s: float
) -> None:
    rig = await make_rig(passive_reply_seconds=passive_s)
    openid = "o-retry"
    xml = text_message_xml(ACCOUNT, openid, "你好", 20_002, create_time=1_700_000_000)
    first = await rig.post(xml)
    retries = await asyncio.gather(rig.post(xml), rig.post(xml))
    bodies = [await first.text()] + [await r.text() for r in retries]
    assert [first.status] + [r.status for r in retries] == [200, 200, 200]
    assert bodies[1:] == ["success", "success"]
    if passive_s < 1:
        assert bodies[0] == "success"
        await rig.wx.wait_for_messages(1)  # the late turn's reply, through the API

    messages = await rig.messages(openid)
    customer = [m for m in messages if m.sender == "customer"]
    assert [m.text for m in customer] == ["你好"]
    bots = _bot(messages)
    assert len(bots) == 1
    greeting = bots[0].text

    if passive_s > 1:
        assert parse_reply_xml(bodies[0])["Content"].startswith(greeting.strip())
        passive = 1
    else:
        passive = 0
    await rig.settle(bots[0].conversation_id)
    await asyncio.sleep(0.5)
    assert passive + _reached(rig.wx, openid, greeting) == 1
    assert len(rig.wx.messages) == 1 - passive


# ---------------------------------------------------------------------- 4. the 5-second rule


async def test_a_late_turn_answers_success_and_replies_through_the_api(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(passive_reply_seconds=0.001)
    openid = "o-late"
    resp = await rig.post(text_message_xml(ACCOUNT, openid, "你好", 30_001))
    assert resp.status == 200
    assert await resp.text() == "success"
    assert resp.content_type == "text/plain"
    await rig.wx.wait_for_messages(1)
    resp = await rig.post(text_message_xml(ACCOUNT, openid, "我的订单到哪了", 30_002))
    assert await resp.text() == "success"
    await rig.wx.wait_for_messages(2)

    bots = _bot(await rig.messages(openid))
    assert len(bots) == 2
    assert [m["touser"] for m in rig.wx.messages] == [openid, openid]
    for bot, pushed in zip(bots, rig.wx.texts(openid), strict=True):
        assert pushed.startswith(bot.text.strip())
    assert rig.wx.token_requests == 1, "the access token must be cached between sends"
    states = await rig.settle(bots[0].conversation_id)
    assert [(states[m.id].status, states[m.id].via) for m in bots] == [("sent", "api")] * 2


# ---------------------------------------------------------------------- 5. token refresh


async def test_an_invalidated_token_is_replaced_and_the_send_succeeds(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(passive_reply_seconds=0.001)
    openid = "o-token"
    await rig.say(openid, "你好", 40_001)
    await rig.wx.wait_for_messages(1)
    old = rig.wx.issued_tokens[-1]
    rig.wx.expire_tokens()

    await rig.say(openid, "我的订单到哪了", 40_002)
    await rig.wx.wait_for_messages(2)
    assert rig.wx.token_requests == 2
    assert rig.wx.issued_tokens[-1] != old
    refused = [c for c in rig.wx.calls if c.errcode == 40001]
    assert len(refused) == 1 and refused[0].query["access_token"] == old

    cid = await rig.conversation_id(openid)
    states = await rig.settle(cid)
    latest = _bot(await rig.messages(openid))[-1]
    assert states[latest.id].status == "sent"
    assert states[latest.id].attempts == 1 and states[latest.id].error is None
    assert not any(m.payload.get("event") == "delivery_failed" for m in await rig.messages(openid))


# ---------------------------------------------------------------------- 6. transient errors


@pytest.mark.parametrize("fault", ["errcode -1", "http 500"])
async def test_a_transient_error_is_retried_until_delivered(
    make_rig: RigFactory, fault: str
) -> None:
    rig = await make_rig(passive_reply_seconds=0.001)
    if fault == "errcode -1":
        rig.wx.fail_next(-1, "system error")
    else:
        rig.wx.http_error_next(500)
    openid = "o-transient"
    await rig.say(openid, "你好", 50_001)
    await rig.wx.wait_for_messages(1, timeout=5)

    cid = await rig.conversation_id(openid)
    states = await rig.settle(cid)
    bot = _bot(await rig.messages(openid))[0]
    assert states[bot.id].status == "sent" and states[bot.id].via == "api"
    assert states[bot.id].attempts > 1
    injected = [c for c in rig.wx.calls if c.injected]
    assert len(injected) == 1
    await asyncio.sleep(0.3)
    assert _reached(rig.wx, openid, bot.text) == 1  # delivered once, not once per attempt
    assert not any(m.payload.get("event") == "delivery_failed" for m in await rig.messages(openid))


# ---------------------------------------------------------------------- 7. the 48-hour window


async def _age_customer_messages(store: SqlStore, cid: str, hours: float) -> None:
    """Test set-up: the customer wrote `hours` earlier than the database says."""

    def work(s: Session) -> None:
        rows = s.execute(
            select(MSG.c.id, MSG.c.created_at).where(
                MSG.c.conversation_id == cid, MSG.c.sender == "customer"
            )
        ).all()
        assert rows
        for row in rows:
            s.execute(
                update(MSG)
                .where(MSG.c.id == row.id)
                .values(created_at=row.created_at - timedelta(hours=hours))
            )
        s.commit()

    await store.db.run(work)


async def test_after_48_hours_an_agent_cannot_send(make_rig: RigFactory) -> None:
    rig = await make_rig()
    openid = "o-window"
    cid = await rig.held_by_agent(openid, 60_001)
    open_view = await rig.transcript(cid)
    assert open_view["channel_window"]["open"] is True
    assert open_view["channel_window"]["closed_because"] is None

    await _age_customer_messages(rig.store, cid, hours=49)
    view = await rig.transcript(cid)
    window = view["channel_window"]
    assert window["channel"] == "wechat"
    assert window["open"] is False and window["remaining"] == 0
    assert "48-hour" in window["closed_because"]

    before = await rig.store.messages.of(cid)
    pushed = len(rig.wx.messages)
    refused = await rig.send(cid, "您好，还在吗？")
    assert refused.status == 409
    body = await refused.json()
    assert "48-hour" in body["message"] and "window" in body["message"]
    assert body["channel_window"]["open"] is False
    await asyncio.sleep(0.5)
    assert len(await rig.store.messages.of(cid)) == len(before)
    assert len(rig.wx.messages) == pushed
    assert "您好，还在吗？" not in rig.wx.texts()


# ---------------------------------------------------------------------- 8. 5 messages


async def test_the_window_allows_five_api_messages_per_customer_message(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    openid = "o-quota"
    cid = await rig.held_by_agent(openid, 70_001)
    window = (await rig.transcript(cid))["channel_window"]
    remaining = window["remaining"]
    # The customer's "转人工" was answered passively (free); the agent's joining notice was not.
    assert remaining == 5 - len(rig.wx.texts(openid))
    assert 0 < remaining < 5

    texts = [f"第 {n} 条回复" for n in range(1, remaining + 1)]
    for n, text in enumerate(texts, start=1):
        resp = await rig.send(cid, text)
        assert resp.status == 200, await resp.text()
        await rig.settle(cid)
        assert (await rig.transcript(cid))["channel_window"]["remaining"] == remaining - n
    pushed = rig.wx.texts(openid)
    assert pushed[-remaining:] == texts
    assert len(pushed) == 5

    over = await rig.send(cid, "第六条")
    assert over.status == 409
    body = await over.json()
    assert "no more messages" in body["message"]
    assert body["channel_window"]["remaining"] == 0 and body["channel_window"]["open"] is False
    assert all(m.text != "第六条" for m in await rig.store.messages.of(cid))

    status, answer = await rig.say(openid, "好的，我等一下", 70_002)
    assert status == 200 and answer == "success"  # the agent holds the chat: the bot is quiet
    reopened = (await rig.transcript(cid))["channel_window"]
    assert reopened["remaining"] == 5 and reopened["open"] is True
    again = await rig.send(cid, "第六条")
    assert again.status == 200
    await rig.wx.wait_for_messages(6)
    assert rig.wx.texts(openid)[-1] == "第六条"


async def test_messages_waiting_in_the_outbox_count_against_the_quota(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(delivery={"max_attempts": 20})
    openid = "o-quota-pending"
    cid = await rig.held_by_agent(openid, 80_001)
    remaining = (await rig.transcript(cid))["channel_window"]["remaining"]
    assert 0 < remaining < 5
    rig.wx.http_error_next(500, times=3)  # a short outage: the agent's messages queue up
    for n in range(remaining):
        assert (await rig.send(cid, f"排队中 {n}")).status == 200
    over = await rig.send(cid, "超出配额")
    await rig.settle(cid, timeout=10)
    assert over.status == 409, "accepted a message the quota no longer allows"


# ---------------------------------------------------------------------- 9. permanent errors


async def test_a_permanent_error_fails_the_delivery_and_tells_the_agent(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    openid = "o-blocked"
    cid = await rig.held_by_agent(openid, 90_001)
    # A refusal that is not about the window (test_window_refusals.py has 45015 and 45047).
    rig.wx.fail_next(48001, "api unauthorized")
    resp = await rig.send(cid, "您的退款已经处理")
    assert resp.status == 200
    failed_id = (await resp.json())["message"]["id"]
    states = await rig.settle(cid)
    assert states[failed_id].status == "failed"
    assert "48001" in (states[failed_id].error or "")
    assert states[failed_id].attempts == 1, "a permanent error must not be retried"

    view = await rig.transcript(cid)
    by_id = {m["id"]: m for m in view["messages"]}
    assert by_id[failed_id]["delivery"]["status"] == "failed"
    notices = [m for m in view["messages"] if m["payload"].get("event") == "delivery_failed"]
    assert len(notices) == 1
    notice = notices[0]
    assert notice["sender"] == "system"
    assert notice["payload"]["message_id"] == failed_id
    assert notice["payload"]["internal"] is True
    assert notice["payload"]["channel"] == "wechat"
    assert notice["delivery"] is None  # never queued for the customer
    assert "WeChat" in notice["text"]

    # The failed message does not block the conversation: the next one goes out.
    assert (await rig.send(cid, "请问还有其他问题吗？")).status == 200
    await rig.settle(cid)
    await asyncio.sleep(0.3)
    texts = rig.wx.texts(openid)
    assert texts[-1] == "请问还有其他问题吗？"
    assert "您的退款已经处理" not in texts
    assert not any(notice["text"] in t or "未送达" in t for t in texts)


# ---------------------------------------------------------------------- 10. events and media


async def test_subscribe_is_greeted_once(make_rig: RigFactory) -> None:
    rig = await make_rig()
    openid = "o-new-follower"
    xml = event_xml(ACCOUNT, openid, "subscribe", create_time=1_700_000_100)
    resp = await rig.post(xml)
    assert resp.status == 200
    reply = parse_reply_xml(await resp.text())
    assert reply["ToUserName"] == openid and reply["FromUserName"] == ACCOUNT
    assert reply["MsgType"] == "text" and reply["Content"].strip()

    messages = await rig.messages(openid)
    customer = [m for m in messages if m.sender == "customer"]
    assert len(customer) == 1
    assert customer[0].parse is not None and customer[0].parse["intent"]["name"] == "greet"
    bots = _bot(messages)
    assert len(bots) == 1 and reply["Content"].startswith(bots[0].text.strip())

    again = await rig.post(xml)  # WeChat's retry of the same event
    assert await again.text() == "success"
    assert len(await rig.messages(openid)) == len(messages)


async def test_unsubscribe_answers_success_and_says_nothing(make_rig: RigFactory) -> None:
    rig = await make_rig()
    stranger = await rig.post(event_xml(ACCOUNT, "o-gone", "unsubscribe"))
    assert stranger.status == 200 and await stranger.text() == "success"
    assert await rig.store.customers.find("wechat", "o-gone") is None

    openid = "o-leaving"
    await rig.say(openid, "你好", 100_001)
    before = await rig.messages(openid)
    leaving = await rig.post(event_xml(ACCOUNT, openid, "unsubscribe"))
    assert leaving.status == 200 and await leaving.text() == "success"
    await asyncio.sleep(0.3)
    new = (await rig.messages(openid))[len(before) :]
    # Only the agents' internal notice (test_events.py): nothing from or to the customer.
    assert [(m.sender, m.payload.get("event"), m.payload.get("internal")) for m in new] == [
        ("system", "wechat_unsubscribed", True)
    ]
    assert rig.wx.messages == []


@pytest.mark.parametrize(
    "body",
    [
        "<xml><ToUserName>gh_1</ToUserName><FromUserName",
        "not xml at all",
        f"<xml><ToUserName>{ACCOUNT}</ToUserName><MsgType>text</MsgType>"
        "<Content>hi</Content></xml>",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><xml>&e;</xml>',
    ],
    ids=["truncated", "not-xml", "no-sender", "entity"],
)
async def test_malformed_xml_is_a_bad_request(make_rig: RigFactory, body: str) -> None:
    rig = await make_rig()
    resp = await rig.post(body)
    assert resp.status == 400
    assert rig.wx.messages == []


async def test_an_oversized_body_is_refused(make_rig: RigFactory) -> None:
    rig = await make_rig()
    openid = "o-flood"
    huge = text_message_xml(ACCOUNT, openid, "长" * 30_000, 105_001)  # 90 000 bytes of UTF-8
    resp = await rig.post(huge)
    assert resp.status == 413
    assert await rig.store.customers.find("wechat", openid) is None


async def test_an_image_is_stored_as_a_marker(make_rig: RigFactory) -> None:
    rig = await make_rig()
    openid = "o-photo"
    resp = await rig.post(_image_xml(openid, 110_001))
    assert resp.status == 200
    customer = [m for m in await rig.messages(openid) if m.sender == "customer"]
    assert [m.text for m in customer] == ["[image]"]
    assert customer[0].external_id == "110001"
