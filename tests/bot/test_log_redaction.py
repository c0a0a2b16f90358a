"""No secret reaches the log: one real server flow touching every credential (REST, the widget
with a signed identity and a Telegram link code, Telegram's webhook with its secret and the bot
token in every Bot API URL, WeChat with its app secret and access token, a console login with
its password, session cookie and CSRF token), with every logger at DEBUG, then each record read
back in the text and the JSON format."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.http.keys import CONFIG
from bot.logs import REDACTED, JsonFormatter, redact, register_secrets
from bot.server.context import CONTEXT
from connectors.web.identity import user_hash
from handoff.console.auth import COOKIE, CSRF_HEADER
from tests.apps import AppFactory, RawEdit
from tests.standins.telegram_api import SECRET_TOKEN_HEADER, TelegramStandIn
from tests.standins.wechat_api import WechatStandIn, signed_query, text_message_xml

TG_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
TG_SECRET = "tg-webhook-secret-5f1e2d"
WX_TOKEN = "wx-webhook-token-9a8b7c"
WX_APP_ID = "wx5e1a7c0ffee0a11d"
WX_APP_SECRET = "wx-app-secret-3c4d5e6f7a8b"
IDENTITY_SECRET = "identity-secret-0f1e2d3c4b5a"
PASSWORD = "correct horse battery staple"
CHAT = 5151
# Every logger that might see a credential, forced to DEBUG even where the CLI quiets it.
LOGGERS = ("", "aiohttp", "aiohttp.access", "aiohttp.server", "telegram", "httpx", "httpcore")
TEXT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> Iterator[str]:
        """Each record as the text format and as the JSON format write it."""
        json_format = JsonFormatter()
        for record in self.records:
            yield TEXT.format(record)
            yield json_format.format(record)


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler = Capture()
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
async def standins() -> AsyncIterator[tuple[TelegramStandIn, WechatStandIn]]:
    async with (
        TelegramStandIn(token=TG_TOKEN) as tg,
        WechatStandIn(appid=WX_APP_ID, secret=WX_APP_SECRET) as wx,
    ):
        yield tg, wx


def flow_edit(tg: TelegramStandIn, wx: WechatStandIn, mode: str) -> RawEdit:
    """A config edit: a widget identity secret, Telegram (in `mode`) and WeChat against the
    stand-ins, every WeChat reply through the API (with the access token)."""

    def edit(raw: dict[str, Any]) -> None:
        fast = {"first_backoff_seconds": 0.05, "max_backoff_seconds": 0.2}
        raw["connectors"]["web"]["identity_secret"] = IDENTITY_SECRET
        raw["connectors"]["telegram"] = {
            "enabled": True,
            "token": TG_TOKEN,
            "mode": mode,
            "secret_token": TG_SECRET,
            "webhook_url": "http://127.0.0.1:9/webhooks/telegram",
            "polling_timeout_seconds": 1,
            "base_url": tg.base_url,
            "base_file_url": tg.base_file_url,
            "delivery": fast,
        }
        raw["connectors"]["wechat"] = {
            "enabled": True,
            "token": WX_TOKEN,
            "app_id": WX_APP_ID,
            "app_secret": WX_APP_SECRET,
            "api_base": wx.api_base,
            "passive_reply_seconds": 0.001,  # every reply through the API, with the access token
            "delivery": fast,
        }

    return edit


async def _widget(client: TestClient[Any, Any]) -> str:
    """A signed-in widget visitor writes, then asks for a Telegram link; returns its code."""
    ws = await client.ws_connect("/ws/widget")
    ts = int(time.time())
    await ws.send_json(
        {
            "type": "hello",
            "token": None,
            "user_id": "u-2024",
            "user_ts": ts,
            "user_hash": user_hash(IDENTITY_SECRET, "u-2024", ts),
        }
    )
    await ws.send_json({"type": "message", "text": "满多少包邮", "client_id": "w-1"})
    await ws.send_json({"type": "link", "channel": "telegram"})
    while True:
        frame = await ws.receive_json(timeout=20)
        assert frame["type"] != "error", frame
        if frame["type"] == "link":
            await ws.close()
            code: str = frame["code"]
            return code


def _update(update_id: int, text: str) -> dict[str, Any]:
    user = {"id": CHAT, "is_bot": False, "first_name": "Li"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": CHAT, "type": "private", "first_name": "Li"},
            "from": user,
            "text": text,
        },
    }


async def _console(client: TestClient[Any, Any], cid: str) -> tuple[str, str]:
    """An agent logs in (once wrongly) and claims a chat; returns the session cookie and CSRF."""
    runtime = client.app[CONTEXT]
    assert runtime.store is not None and runtime.accounts is not None
    await runtime.accounts.set_password("amy", PASSWORD)
    wrong = await client.post(
        "/api/console/login", json={"username": "amy", "password": PASSWORD + "!"}
    )
    assert wrong.status == 401
    resp = await client.post("/api/console/login", json={"username": "amy", "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    csrf: str = (await resp.json())["csrf"]
    session = resp.cookies[COOKIE].value
    claim = await client.post(
        f"/api/agent/conversations/{cid}/claim",
        headers={CSRF_HEADER: csrf, "Cookie": f"{COOKIE}={session}"},
    )
    assert claim.status == 200, await claim.text()
    return session, csrf


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_no_secret_reaches_any_log_line_in_either_format(
    mode: str,
    captured: Capture,
    standins: tuple[TelegramStandIn, WechatStandIn],
    make_client: AppFactory,
) -> None:
    tg, wx = standins
    client = await make_client(always_open=True, edit=flow_edit(tg, wx, mode))
    config = client.app[CONFIG]
    runtime = client.app[CONTEXT]
    assert runtime.channels["telegram"].connector is not None and runtime.store is not None
    await asyncio.wait_for(runtime.channels["telegram"].connector.ready.wait(), 10)
    # Online before the customer asks for a person: the request queues (nobody online: a ticket).
    groups = sorted(config.handoff.skill_groups)
    await runtime.store.agents.add("amy", "Amy", role="supervisor", skills=groups, status="online")

    rest = await client.post("/webhooks/rest/webhook", json={"sender": "r1", "message": "你好"})
    assert rest.status == 200
    code = await _widget(client)

    hook = {SECRET_TOKEN_HEADER: TG_SECRET}
    for n, text in enumerate((f"/start {code}", "转人工")):
        if mode == "webhook":
            update = _update(880_001 + n, text)
            resp = await client.post("/webhooks/telegram", json=update, headers=hook)
            assert resp.status == 200
        else:  # getUpdates hands it over, and python-telegram-bot logs the whole answer
            tg.push_message(CHAT, text)
        await tg.wait_for_sent(n + 1, chat_id=CHAT, timeout=10)

    xml = text_message_xml("gh_3f2a1b0c9d8e", "o-wx", "你好", 70_001)
    wx.observe(xml)  # the stand-in's 48-hour window: WeChat saw the user write
    resp = await client.post("/webhooks/wechat", params=signed_query(WX_TOKEN), data=xml)
    assert resp.status == 200
    await wx.wait_for_messages(1)

    telegram_customer = await runtime.store.customers.find("telegram", str(CHAT))
    assert telegram_customer is not None
    conv = await runtime.store.conversations.latest(telegram_customer.id, "telegram")
    assert conv is not None
    session, csrf = await _console(client, conv.id)
    await asyncio.sleep(0.3)  # the deliveries the claim started, and their log lines

    secrets = {
        "bot token": TG_TOKEN,
        "bot token's secret part": TG_TOKEN.split(":", 1)[1],
        "Telegram webhook secret": TG_SECRET,
        "WeChat webhook token": WX_TOKEN,
        "WeChat app secret": WX_APP_SECRET,
        "identity secret": IDENTITY_SECRET,
        "agent password": PASSWORD,
        "session cookie": session,
        "CSRF token": csrf,
        "link code": code,
    }
    assert wx.issued_tokens
    secrets.update({f"access token {i}": t for i, t in enumerate(wx.issued_tokens)})
    lines = list(captured.lines())
    leaks = [(what, line) for line in lines for what, value in secrets.items() if value in line]
    assert leaks == [], sorted({what for what, _ in leaks})

    # Not a vacuous pass: the credentials' paths were logged, redacted.
    names = {r.name for r in captured.records}
    assert {"httpx", "aiohttp.access", "telegram.Bot"} <= names, names
    assert any(f"/bot{REDACTED}/sendMessage" in line for line in lines)
    if mode == "webhook":  # setWebhook's parameters, at DEBUG
        assert any(f"'secret_token': '{REDACTED}'" in line for line in lines)
    else:  # the update with the link code, at DEBUG
        assert any(f"/start {REDACTED}" in line for line in lines)


def test_redaction_covers_registered_values_and_credential_shapes() -> None:
    register_secrets("registered-value-123", None, "", "abc")
    cases = {
        "x registered-value-123 y": f"x {REDACTED} y",
        "GET /bot123:AA-b_c/getMe": f"GET /bot{REDACTED}/getMe",
        "GET /file/bot123:AA-b_c/photos/1.jpg": f"GET /file/bot{REDACTED}/photos/1.jpg",
        "token 7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 set": f"token {REDACTED} set",
        "POST /cgi-bin/message/custom/send?access_token=AT_1-x&y=1": (
            f"POST /cgi-bin/message/custom/send?access_token={REDACTED}&y=1"
        ),
        "/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=s3": (
            f"/cgi-bin/token?grant_type=client_credential&appid=wx1&secret={REDACTED}"
        ),
        '{"access_token": "AT_1", "expires_in": 7200}': (
            f'{{"access_token": "{REDACTED}", "expires_in": 7200}}'
        ),
        "'text': '/start Zm9vYmFyYmF6MTIz'": f"'text': '/start {REDACTED}'",
        "https://t.me/relaydesk_bot?start=Zm9vYmFy": f"https://t.me/relaydesk_bot?start={REDACTED}",
        # What is no secret stays readable: short values, WeChat's signature and nonce.
        "abc ?signature=0f1e&timestamp=1&nonce=2&echostr=3": (
            "abc ?signature=0f1e&timestamp=1&nonce=2&echostr=3"
        ),
        "/start": "/start",
    }
    assert {text: redact(text) for text in cases} == cases


def test_a_traceback_is_redacted_in_both_formats(captured: Capture) -> None:
    from bot.logs import install_redaction

    install_redaction()
    try:
        raise ConnectionError("GET https://api.telegram.org/bot42:AAsecretpart/getMe failed")
    except ConnectionError:
        logging.getLogger("relaydesk.test").exception("request to %s", "/bot42:AAsecretpart/x")
    lines = list(captured.lines())
    assert lines and all("AAsecretpart" not in line for line in lines)
    assert any(f"api.telegram.org/bot{REDACTED}/getMe failed" in line for line in lines)
