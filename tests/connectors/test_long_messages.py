"""Long messages go out whole, in parts within each platform's limit, in order, each part in the
delivery ledger: the outbox with the real senders against the Telegram and WeChat stand-ins."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot

from bot.store.sql_store import SqlStore
from connectors.outbox import Outbox
from connectors.splitting import utf8_bytes, utf16_units
from connectors.telegram.sender import MAX_TEXT, TelegramSender
from connectors.wechat.api import WechatApi
from connectors.wechat.sender import MAX_TEXT_BYTES, WechatSender, fits_one_message
from connectors.wechat.settings import WechatSettings
from tests.standins.telegram_api import TelegramStandIn
from tests.standins.wechat_api import WechatStandIn

TOKEN = "123456:relaydesk-test-token"
CHAT = 4242
SENTENCES_ZH = [
    "您的订单已经发货，预计三天内送达。",
    "如需修改地址，请在发货前联系客服！",
    "退款一般在七个工作日内到账？",
]
SENTENCES_EN = [
    "Your order has shipped and should arrive within three days.",
    "To change the address, contact us before it ships!",
    "Refunds usually arrive within seven working days?",
]


def long_text(sentences: list[str], chars: int) -> str:
    """About `chars` characters: sentences, in paragraphs of five."""
    out: list[str] = []
    i = 0
    while sum(len(s) for s in out) < chars:
        sep = "\n\n" if i % 5 == 4 else ("" if sentences is SENTENCES_ZH else " ")
        out.append(f"{i}:{sentences[i % len(sentences)]}{sep}")
        i += 1
    return "".join(out)[:chars].rstrip()


def rebuilt(text: str, parts: list[str]) -> bool:
    """The parts are the text, in order, but for whitespace at the break points."""
    pattern = r"\s*" + r"\s*".join(re.escape(p) for p in parts) + r"\s*"
    return re.fullmatch(pattern, text, re.DOTALL) is not None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(f"sqlite:///{tmp_path / 'relaydesk.db'}")
    yield opened
    await opened.close()


@pytest.fixture
async def tg() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn(token=TOKEN) as standin:
        yield standin


@pytest.fixture
async def bot(tg: TelegramStandIn) -> AsyncIterator[Bot]:
    async with tg.client() as client:
        yield client


@pytest.fixture
async def wx() -> AsyncIterator[WechatStandIn]:
    # These tests configure a wider window than WeChat's 5 messages, to split long texts.
    async with WechatStandIn(enforce_window=False) as standin:
        yield standin


async def bot_says(
    store: SqlStore, channel: str, who: str, text: str, **payload: Any
) -> tuple[str, int]:
    conv = (await store.turns.begin(channel, who, "hello")).conversation.id
    msg = await store.messages.append(conv, "bot", text, payload=payload)
    return conv, msg.id


@pytest.mark.parametrize("sentences", [SENTENCES_ZH, SENTENCES_EN], ids=["zh", "en"])
async def test_a_long_telegram_answer_arrives_whole_in_parts_in_order(
    store: SqlStore, tg: TelegramStandIn, bot: Bot, tmp_path: Path, sentences: list[str]
) -> None:
    text = long_text(sentences, 10_000)
    buttons = [{"title": "Yes", "payload": "/affirm"}]
    conv, msg_id = await bot_says(store, "telegram", str(CHAT), text, buttons=buttons)
    await store.messages.append(conv, "bot", "and one more")
    outbox = Outbox(store, TelegramSender(bot, tmp_path, store.deliveries))
    while await outbox.run_once():
        pass
    calls = tg.sent(CHAT)
    texts = [str(c.params["text"]) for c in calls]
    assert texts[-1] == "and one more"
    parts = texts[:-1]
    assert len(parts) == 3 and rebuilt(text, parts)
    assert all(utf16_units(p) <= MAX_TEXT for p in parts)
    # The keyboard goes with the last part only.
    markups = [c.params.get("reply_markup") for c in calls[:-1]]
    assert [m is not None for m in markups] == [False, False, True]
    states = await store.deliveries.states(conv)
    assert {s.status for s in states.values()} == {"sent"}
    recorded = await store.deliveries.parts(msg_id)
    assert [(n, of) for n, of, _ in recorded] == [(1, 3), (2, 3), (3, 3)]
    assert all(ref for _, _, ref in recorded)


async def test_a_retry_after_a_partial_send_sends_only_the_rest(
    store: SqlStore, tg: TelegramStandIn, bot: Bot, tmp_path: Path
) -> None:
    text = long_text(SENTENCES_EN, 10_000)
    conv, msg_id = await bot_says(store, "telegram", str(CHAT), text)
    deliveries = store.deliveries
    record = deliveries.part_sent

    async def part_sent_then_fail(*args: Any, **kwargs: Any) -> None:
        await record(*args, **kwargs)
        if args[1] == 1:  # Telegram fails the second part
            tg.fail_next("sendMessage", 500)

    deliveries.part_sent = part_sent_then_fail  # type: ignore[method-assign]
    outbox = Outbox(store, TelegramSender(bot, tmp_path, deliveries))
    await outbox.run_once()
    assert len(tg.sent(CHAT)) == 1
    (state,) = (await deliveries.states(conv)).values()
    assert state.status == "pending"
    # Another process (no memory of the first) picks the message up again.
    await deliveries.retry(msg_id, after_s=0, error="test")
    outbox = Outbox(store, TelegramSender(bot, tmp_path, deliveries))
    while await outbox.run_once():
        pass
    parts = tg.sent_texts(CHAT)
    assert len(parts) == 3 and rebuilt(text, parts)  # none twice, none missing
    assert [n for n, _, _ in await deliveries.parts(msg_id)] == [1, 2, 3]


def wechat_sender(wx: WechatStandIn, store: SqlStore, window_messages: int) -> WechatSender:
    api = WechatApi(wx.api_base, wx.appid, wx.secret)
    settings = WechatSettings(window_messages=window_messages)
    return WechatSender(api, store.deliveries, settings)


@pytest.mark.parametrize("sentences", [SENTENCES_ZH, SENTENCES_EN], ids=["zh", "en"])
async def test_a_long_wechat_answer_arrives_whole_in_parts_in_order(
    store: SqlStore, wx: WechatStandIn, sentences: list[str]
) -> None:
    text = long_text(sentences, 10_000)
    conv, msg_id = await bot_says(store, "wechat", "openid-1", text, buttons=[{"title": "好的"}])
    sender = wechat_sender(wx, store, window_messages=20)
    outbox = Outbox(store, sender)
    try:
        while await outbox.run_once():
            pass
    finally:
        await sender.api.close()
    parts = wx.texts("openid-1")
    assert all(utf8_bytes(p) <= MAX_TEXT_BYTES for p in parts)
    assert rebuilt(text + "\n· 好的", parts)  # the buttons as lines, after the last part
    expected = 15 if sentences is SENTENCES_ZH else 5
    assert abs(len(parts) - expected) <= 1
    assert [n for n, _, _ in await store.deliveries.parts(msg_id)] == list(range(1, len(parts) + 1))
    (state,) = (await store.deliveries.states(conv)).values()
    assert state.status == "sent"
    # Every part used one message of the customer-service window.
    _, used = await store.deliveries.window(
        (await store.conversations.get(conv)).customer_id, "wechat"
    )
    assert used == len(parts)


async def test_a_message_the_wechat_window_cannot_hold_is_not_sent_by_halves(
    store: SqlStore, wx: WechatStandIn
) -> None:
    text = long_text(SENTENCES_ZH, 10_000)  # about 15 parts
    conv, _ = await bot_says(store, "wechat", "openid-2", text)
    sender = wechat_sender(wx, store, window_messages=5)
    try:
        await Outbox(store, sender).run_once()
    finally:
        await sender.api.close()
    assert wx.texts("openid-2") == []
    (state,) = (await store.deliveries.states(conv)).values()
    assert state.status == "failed" and state.error and "window allows 5" in state.error


async def test_a_passive_reply_carries_only_a_text_that_fits_one_message(
    store: SqlStore,
) -> None:
    conv = (await store.turns.begin("wechat", "openid-3", "hello")).conversation.id
    short = await store.messages.append(conv, "bot", "好的。")
    long = await store.messages.append(conv, "bot", long_text(SENTENCES_ZH, 1_000))
    d = store.deliveries
    # The long one (about 3,000 bytes) is left to the sender, which sends it in parts.
    assert await d.claim_passive(conv, long.seq, fits=fits_one_message) is None
    taken = await d.claim_passive(conv, short.seq, fits=fits_one_message)
    assert taken is not None and taken.id == short.id


async def test_a_long_photo_caption_is_not_cut_the_rest_follows_as_text(
    store: SqlStore, tg: TelegramStandIn, bot: Bot, tmp_path: Path
) -> None:
    caption = long_text(SENTENCES_EN, 3_000)
    await bot_says(
        store, "telegram", str(CHAT), "", image="https://example.com/p.jpg", caption=caption
    )
    outbox = Outbox(store, TelegramSender(bot, tmp_path, store.deliveries))
    while await outbox.run_once():
        pass
    calls = tg.sent(CHAT)
    assert calls[0].method == "sendPhoto"
    first = str(calls[0].params["caption"])
    assert 0 < utf16_units(first) <= 1024
    rest = [str(c.params["text"]) for c in calls[1:]]
    assert rest and all(c.method == "sendMessage" for c in calls[1:])
    assert rebuilt(caption, [first, *rest])
