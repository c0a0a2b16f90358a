"""The stand-ins speak the real wire protocols: python-telegram-bot and aiohttp talk to them."""

from __future__ import annotations

import asyncio
import datetime as dtm
import hashlib
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    MessageEntity,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from tests.standins.telegram_api import SECRET_TOKEN_HEADER, TelegramStandIn
from tests.standins.wechat_api import (
    WechatStandIn,
    event_xml,
    parse_reply_xml,
    signature,
    signed_query,
    text_message_xml,
)

TOKEN = "123:ABC"
ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def tg() -> AsyncIterator[TelegramStandIn]:
    async with TelegramStandIn(token=TOKEN, first_update_id=500_000_000) as stand_in:
        yield stand_in


@pytest.fixture
async def bot(tg: TelegramStandIn) -> AsyncIterator[Bot]:
    async with tg.client() as client:
        yield client


# ---------------------------------------------------------------------- Telegram


async def test_initialize_calls_get_me(tg: TelegramStandIn, bot: Bot) -> None:
    assert bot.username == "relaydesk_test_bot"
    assert bot.id == 123
    assert tg.calls == [("getMe", {})]
    assert tg.calls[0].ok


async def test_send_message_records_the_inline_keyboard(tg: TelegramStandIn, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("是", callback_data="yes")]])
    message = await bot.send_message(42, "hi", reply_markup=keyboard)
    second = await bot.send_message(42, "again")

    assert (message.message_id, second.message_id) == (1, 2)
    assert message.text == "hi"
    assert message.chat.id == 42 and message.chat.type == "private"
    assert message.from_user is not None and message.from_user.is_bot
    assert message.reply_markup == keyboard

    sent = await tg.wait_for_sent(2, chat_id=42)
    # PTB posts form-urlencoded, with nested values JSON-encoded inside the form field.
    assert sent[0].content_type == "application/x-www-form-urlencoded"
    assert sent[0] == (
        "sendMessage",
        {
            "chat_id": 42,
            "text": "hi",
            "reply_markup": {"inline_keyboard": [[{"text": "是", "callback_data": "yes"}]]},
        },
    )
    assert tg.sent_texts(42) == ["hi", "again"]
    assert tg.sent(7) == []


async def test_get_updates_returns_pushed_updates(tg: TelegramStandIn, bot: Bot) -> None:
    pushed = tg.push_message(42, "/start CODE123", first_name="小明")
    tg.push_callback(42, "yes", message_id=1)

    updates = await bot.get_updates(timeout=1)

    assert [type(u) for u in updates] == [Update, Update]
    first, second = updates
    assert first.update_id == pushed["update_id"] == 500_000_000
    assert second.update_id == 500_000_001
    assert first.message is not None and first.message.text == "/start CODE123"
    assert first.message.entities == (
        MessageEntity(type=MessageEntity.BOT_COMMAND, offset=0, length=6),
    )
    assert first.message.from_user is not None
    assert first.message.from_user.language_code == "zh"
    assert first.message.chat.first_name == "小明"
    assert second.callback_query is not None and second.callback_query.data == "yes"
    assert second.callback_query.message is not None

    # Confirming with offset drops them, as on Telegram.
    assert await bot.get_updates(offset=second.update_id + 1, timeout=0) == ()
    assert tg.pending_updates == []
    assert tg.calls_of("getUpdates")[-1].params == {"offset": 500_000_002, "timeout": 0}


async def test_long_poll_answers_as_soon_as_an_update_arrives(
    tg: TelegramStandIn, bot: Bot
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_for_calls("getMe")  # already answered; now wait until the poll is waiting
    while not any(c.pending for c in tg.calls_of("getUpdates")):
        await asyncio.sleep(0.01)
    tg.push_message(42, "你好")
    updates = await poll
    assert [u.message.text for u in updates if u.message] == ["你好"]
    assert time.monotonic() - started < 2


async def test_flood_control_raises_retry_after(
    tg: TelegramStandIn, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    tg.fail_next("sendMessage", status=429, retry_after=1)

    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(42, "hi")
    assert raised.value.retry_after == dtm.timedelta(seconds=1)

    await bot.send_message(42, "hi")
    attempts = tg.calls_of("sendMessage")
    assert [(c.status, c.failed, c.injected) for c in attempts] == [
        (429, True, True),
        (200, False, False),
    ]
    assert len(tg.sent()) == 1
    assert len(tg.sent(include_failed=True)) == 2


async def test_server_errors_and_blocked_user(tg: TelegramStandIn, bot: Bot) -> None:
    tg.fail_next("sendMessage", status=500, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(42, "hi")

    tg.fail_next("sendMessage", status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):  # nginx's HTML page, not JSON
        await bot.send_message(42, "hi")

    tg.fail_next("sendMessage", status=403)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(42, "hi")

    tg.block(43)
    with pytest.raises(Forbidden):
        await bot.send_message(43, "hi")

    assert [c.status for c in tg.calls_of("sendMessage")] == [500, 500, 502, 403, 403]
    assert tg.sent() == []


async def test_delayed_answer_times_out_but_the_message_is_still_sent(
    tg: TelegramStandIn, bot: Bot
) -> None:
    tg.delay_next("sendMessage", 0.3)
    with pytest.raises(TimedOut):
        await bot.send_message(42, "slow", read_timeout=0.05)
    await tg.wait_for_sent(1)  # like Telegram: a timed-out request may still have taken effect


async def test_a_request_lost_on_the_way_times_out_and_is_never_sent(
    tg: TelegramStandIn, bot: Bot
) -> None:
    tg.delay_next("sendMessage", 0.3, takes_effect=False)
    with pytest.raises(TimedOut):
        await bot.send_message(42, "lost", read_timeout=0.05)
    [call] = await tg.wait_for_calls("sendMessage")
    assert call.status == 504 and call.injected and tg.sent(42) == []
    await bot.send_message(42, "next")  # only the call it was set for is lost
    assert tg.sent_texts(42) == ["next"]


async def test_media_uploads_are_recorded_with_filename(tg: TelegramStandIn, bot: Bot) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    photo_message = await bot.send_photo(42, InputFile(png, filename="chart.png"), caption="报表")
    document_message = await bot.send_document(42, b"raw bytes")
    video_message = await bot.send_video(42, "https://cdn.example.com/clips/demo.mp4")

    photo_call, document_call, video_call = tg.sent(42)
    assert photo_call.content_type == "multipart/form-data"
    upload = photo_call.params["photo"]
    assert (upload.filename, upload.size, upload.content_type) == (
        "chart.png",
        len(png),
        "image/png",
    )
    assert photo_call.params["caption"] == "报表"
    assert photo_call.files["photo"].data == png
    assert photo_message.caption == "报表"
    assert photo_message.photo[-1].file_size == len(png)

    # Raw bytes get PTB's made-up name: the MIME type with '/' replaced by '.'.
    assert document_call.params["document"].filename == "application.octet-stream"
    assert document_message.document is not None
    assert document_message.document.file_size == len(b"raw bytes")

    assert video_call.params["video"] == "https://cdn.example.com/clips/demo.mp4"
    assert video_call.content_type == "application/x-www-form-urlencoded"
    assert video_message.video is not None and video_message.video.file_name == "demo.mp4"

    # The uploaded file can be fetched back through getFile and base_file_url.
    photo_file = await photo_message.photo[-1].get_file()
    assert bytes(await photo_file.download_as_bytearray()) == png


async def test_user_photo_can_be_downloaded(tg: TelegramStandIn, bot: Bot) -> None:
    tg.push_photo(42, caption="坏了")
    (update,) = await bot.get_updates(timeout=0)
    assert update.message is not None and update.message.caption == "坏了"
    data = await (await update.message.photo[-1].get_file()).download_as_bytearray()
    assert data.startswith(b"\xff\xd8")


async def test_wrong_token_and_unknown_method(tg: TelegramStandIn, bot: Bot) -> None:
    stranger = Bot("999:WRONG", base_url=tg.base_url)
    try:
        with pytest.raises(InvalidToken):
            await stranger.initialize()
    finally:
        await stranger.shutdown()
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": 42})

    async with ClientSession() as session:
        async with session.post(f"{tg.base_url}999:WRONG/getMe") as response:
            assert response.status == 401
            assert await response.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with session.post(tg.api_url("sendTelepathy")) as response:
            assert response.status == 404
            assert (await response.json())["description"] == "Not Found"


async def test_json_body_clients_are_accepted(tg: TelegramStandIn) -> None:
    keyboard = {"inline_keyboard": [[{"text": "Open", "url": "https://example.com"}]]}
    async with (
        ClientSession() as session,
        session.post(
            tg.api_url("sendMessage"), json={"chat_id": 7, "text": "123", "reply_markup": keyboard}
        ) as response,
    ):
        body = await response.json()
    assert body["ok"] is True
    assert body["result"]["reply_markup"] == keyboard
    (call,) = tg.sent(7)
    assert call.params["text"] == "123" and call.content_type == "application/json"


async def test_formatting_and_keyboard_mistakes_are_rejected_like_telegram(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't find end tag"):
        await bot.send_message(42, "<b>bold", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
        await bot.send_message(42, "Done.", parse_mode="MarkdownV2")
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    # PTB capitalizes Telegram's descriptions: BUTTON_DATA_INVALID arrives as Button_data_invalid.
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(42, "x", reply_markup=too_long)
    message = await bot.send_message(42, "<b>粗体</b> &amp; done", parse_mode="HTML")
    assert message.text == "粗体 & done"


async def test_callback_queries_can_be_answered_once(tg: TelegramStandIn, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    sent = await bot.send_message(42, "Resolved?", reply_markup=keyboard)
    tg.push_callback(42, "yes", message_id=sent.message_id)
    (update,) = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None and isinstance(query.message, Message)
    assert query.message.reply_markup == keyboard  # the bot's own message, as Telegram sends it

    assert await bot.answer_callback_query(query.id, text="谢谢") is True
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query.id)


async def test_webhook_delivery_with_secret_and_retries(
    tg: TelegramStandIn, bot: Bot, aiohttp_server: ServerFactory
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def webhook(request: web.Request) -> web.Response:
        received.append((request.headers.get(SECRET_TOKEN_HEADER), await request.json()))
        return web.Response(status=500 if len(received) == 1 else 200)

    app = web.Application()
    app.router.add_post("/tg", webhook)
    server = await aiohttp_server(app)
    url = str(server.make_url("/tg"))

    assert await bot.set_webhook(url, secret_token="s3cr3t-Token_1") is True
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)

    pushed = tg.push_message(42, "你好")
    deliveries = await tg.wait_for_webhook_responses(2)
    assert [(d.attempt, d.status) for d in deliveries] == [(1, 500), (2, 200)]
    assert received == [("s3cr3t-Token_1", pushed), ("s3cr3t-Token_1", pushed)]

    info = await bot.get_webhook_info()
    assert info.url == url and info.pending_update_count == 0
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"

    assert await bot.delete_webhook() is True
    assert await bot.get_updates(timeout=0) == ()


async def test_ptb_application_polls_and_replies(tg: TelegramStandIn) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        tg.push_message(42, "在吗")
        (reply,) = await tg.wait_for_sent(1, chat_id=42)
        await app.updater.stop()
        await app.stop()
    assert reply.params["text"] == "echo: 在吗"
    assert tg.pending_updates == []  # the updater confirmed what it handled


# ---------------------------------------------------------------------- WeChat


async def _json(session: ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    async with session.request(method, url, **kwargs) as response:
        assert response.status == 200
        return await response.json()


async def test_wechat_token_send_and_expired_token() -> None:
    async with WechatStandIn(appid="wx123", secret="s3cr3t") as wx, ClientSession() as session:
        wx.customer_wrote("oUser1")  # inside the 48-hour window
        token_url = f"{wx.api_base}/cgi-bin/token"
        query = {"grant_type": "client_credential", "appid": "wx123", "secret": "s3cr3t"}
        issued = await _json(session, "GET", token_url, params=query)
        assert set(issued) == {"access_token", "expires_in"} and issued["expires_in"] == 7200

        send_url = f"{wx.api_base}/cgi-bin/message/custom/send"
        body = {"touser": "oUser1", "msgtype": "text", "text": {"content": "您好"}}
        params = {"access_token": issued["access_token"]}
        assert await _json(session, "POST", send_url, params=params, json=body) == {
            "errcode": 0,
            "errmsg": "ok",
        }
        (message,) = await wx.wait_for_messages(1)
        assert (message["touser"], message["msgtype"], message["content"]) == (
            "oUser1",
            "text",
            "您好",
        )

        wx.expire_tokens()
        assert await _json(session, "POST", send_url, params=params, json=body) == {
            "errcode": 40001,
            "errmsg": "invalid credential, access_token is invalid or not latest",
        }
        wrong_appid = await _json(session, "GET", token_url, params={**query, "appid": "wx9"})
        assert wrong_appid["errcode"] == 40013
        wrong_secret = await _json(session, "GET", token_url, params={**query, "secret": "x"})
        assert wrong_secret["errcode"] == 40001
        assert wx.token_requests == 3
        assert len(wx.messages) == 1


async def test_wechat_fault_injection_and_timed_out_token() -> None:
    async with WechatStandIn(expires_in=0) as wx, ClientSession() as session:
        query = {"grant_type": "client_credential", "appid": wx.appid, "secret": wx.secret}
        token = (await _json(session, "GET", f"{wx.api_base}/cgi-bin/token", params=query))[
            "access_token"
        ]
        send_url = f"{wx.api_base}/cgi-bin/message/custom/send"
        body = {"touser": "oUser1", "msgtype": "text", "text": {"content": "hi"}}
        expired = await _json(session, "POST", send_url, params={"access_token": token}, json=body)
        assert expired["errcode"] == 42001  # what WeChat answers once expires_in has passed

    async with WechatStandIn() as wx, ClientSession() as session:
        wx.customer_wrote("oUser1")
        query = {"grant_type": "client_credential", "appid": wx.appid, "secret": wx.secret}
        token = (await _json(session, "GET", f"{wx.api_base}/cgi-bin/token", params=query))[
            "access_token"
        ]
        send_url = f"{wx.api_base}/cgi-bin/message/custom/send"
        params = {"access_token": token}
        news = {
            "touser": "oUser1",
            "msgtype": "news",
            "news": {"articles": [{"title": "退货", "url": "https://example.com/r"}]},
        }

        wx.fail_next(45015)
        wx.http_error_next(status=500)  # a gateway failure comes before any API-level error
        async with session.post(send_url, params=params, json=news) as response:
            assert response.status == 500
        result = await _json(session, "POST", send_url, params=params, json=news)
        assert result == {
            "errcode": 45015,
            "errmsg": "response out of time limit or subscription is canceled",
        }
        assert (await _json(session, "POST", send_url, params=params, json=news))["errcode"] == 0
        (message,) = await wx.wait_for_messages(1)
        assert message["msgtype"] == "news" and message["content"][0]["title"] == "退货"
        assert [c.injected for c in wx.calls[1:]] == [True, True, False]


def test_wechat_webhook_helpers() -> None:
    expected = hashlib.sha1("".join(sorted(["tok", "1700000000", "42"])).encode()).hexdigest()
    assert signature("tok", 1700000000, "42") == expected
    assert signed_query("tok", timestamp=1700000000, nonce="42", echostr="e") == {
        "signature": expected,
        "timestamp": "1700000000",
        "nonce": "42",
        "echostr": "e",
    }

    xml = text_message_xml("gh_abc", "oUser1", "a]]>b <&> 你好", 6000000000000000001, 1700000000)
    assert xml.startswith("<xml><ToUserName><![CDATA[gh_abc]]></ToUserName>\n")
    root = ET.fromstring(xml)
    assert {child.tag: child.text for child in root} == {
        "ToUserName": "gh_abc",
        "FromUserName": "oUser1",
        "CreateTime": "1700000000",
        "MsgType": "text",
        "Content": "a]]>b <&> 你好",
        "MsgId": "6000000000000000001",
    }
    subscribe = ET.fromstring(event_xml("gh_abc", "oUser1", "subscribe"))
    assert subscribe.findtext("Event") == "subscribe" and subscribe.findtext("EventKey") == ""
    click = ET.fromstring(event_xml("gh_abc", "oUser1", "CLICK", "MENU_HUMAN"))
    assert click.findtext("EventKey") == "MENU_HUMAN"

    reply = (
        "<xml><ToUserName><![CDATA[oUser1]]></ToUserName><FromUserName><![CDATA[gh_abc]]>"
        "</FromUserName><CreateTime>1700000001</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[您好，请问有什么可以帮您？]]></Content></xml>"
    )
    assert parse_reply_xml(reply) == {
        "ToUserName": "oUser1",
        "FromUserName": "gh_abc",
        "CreateTime": "1700000001",
        "MsgType": "text",
        "Content": "您好，请问有什么可以帮您？",
    }
    news = (
        "<xml><MsgType>news</MsgType><ArticleCount>2</ArticleCount><Articles>"
        "<item><Title>A</Title></item><item><Title>B</Title></item></Articles></xml>"
    )
    assert parse_reply_xml(news)["Articles"] == {"item": [{"Title": "A"}, {"Title": "B"}]}
    assert parse_reply_xml("success") == {}
