"""The widget and the console in a real browser: Debian's Chromium driven by Playwright, against
the real server, store, models and knowledge base on a real port."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.server.context import CONTEXT
from bot.store.deliveries import Deliveries
from bot.store.sql_store import SqlStore
from bot.store.tables import MSG
from tests.apps import PASSWORD
from tests.e2e.conftest import ServerFactory, site_of


async def _open_widget(browser: Any, site: str) -> Any:
    """A phone-sized English page of the site with the widget opened."""
    page = await browser.new_page(viewport={"width": 390, "height": 800}, locale="en-US")
    await page.goto(site)
    await page.get_by_test_id("rd-launcher").click()
    return page


async def _say(page: Any, text: str) -> None:
    box = page.get_by_test_id("rd-input")
    await box.fill(text)
    await box.press("Enter")


async def _login(page: Any, site: str, password: str = PASSWORD) -> None:
    await page.goto(f"{site}/console")
    await page.get_by_test_id("login-username").fill("amy")
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def test_a_question_gets_a_knowledge_answer_with_its_image(
    site: str, browser: Any, artifacts: Path
) -> None:
    page = await _open_widget(browser, site)
    await _say(page, "How long does delivery take?")
    bot = page.locator('[data-testid="rd-msg"][data-sender="bot"]')
    await bot.locator("img").first.wait_for()
    src = await bot.locator("img").first.get_attribute("src")
    assert src is not None and src.endswith("/kb/media/delivery-timeline.svg")
    # The image is really served.
    loaded = await page.evaluate(
        "async (u) => (await fetch(u)).status", src if src.startswith("http") else site + src
    )
    assert loaded == 200
    await page.screenshot(path=str(artifacts / "widget-answer.png"))

    # Telegram is not connected in these tests: welcome.options.telegram is false, so
    # "Continue in Telegram" is never offered (issue 20).
    assert await page.get_by_test_id("rd-telegram").is_hidden()
    assert await page.get_by_test_id("rd-error").is_hidden()


async def test_with_nobody_online_the_banner_repeats_the_tickets_promise(
    server: TestServer, site: str, browser: Any, artifacts: Path
) -> None:
    """One state, one message: no queue position while a ticket is what the customer has; an
    emoji is acknowledged in the page's language, not failed."""
    store = server.app[CONTEXT].store
    assert store is not None
    await store.agents.update("amy", status="offline")
    page = await _open_widget(browser, site)  # the demo page is in English: so is the widget
    await _say(page, "👍")
    bot = page.locator('[data-testid="rd-msg"][data-sender="bot"]')
    await bot.filter(has_text="can't read stickers").first.wait_for()
    await _say(page, "agent please")
    await bot.filter(has_text="opened ticket").first.wait_for()
    status = page.get_by_test_id("rd-status")
    banner = re.compile(r"Ticket T-\d+: an agent will reply here by \d\d-\d\d \d\d:\d\d")
    await status.filter(has_text=banner).wait_for()
    assert "in line" not in (await status.inner_text())
    await page.screenshot(path=str(artifacts / "widget-ticket.png"))


async def test_failed_turns_queue_the_customer_and_an_agent_takes_over(
    site: str, browser: Any, artifacts: Path
) -> None:
    customer = await _open_widget(browser, site)
    for line in ("qwzx plorb", "vrrm kzzt blaf", "xyzzy frobnicate quux"):
        await _say(customer, line)
        await customer.wait_for_timeout(300)
    status = customer.get_by_test_id("rd-status")
    await status.filter(has_text=re.compile(r"number 1|#1|1 in line", re.I)).wait_for()
    await customer.screenshot(path=str(artifacts / "widget-queued.png"))

    agent_page = await browser.new_page(viewport={"width": 1400, "height": 900}, locale="en-US")
    await _login(agent_page, site, "not the password")
    await (
        agent_page.get_by_test_id("login-error")
        .filter(has_text="wrong username or password")
        .wait_for()
    )
    await _login(agent_page, site)
    await agent_page.get_by_test_id("me-name").filter(has_text="Amy").wait_for()
    item = agent_page.get_by_test_id("queue-item").first
    await item.wait_for()
    await item.get_by_test_id("claim").click()
    await agent_page.get_by_test_id("reply-input").fill("Hi, this is Amy. How can I help?")
    await agent_page.get_by_test_id("reply-send").click()

    agent_msg = customer.locator('[data-testid="rd-msg"][data-sender="agent"]')
    await agent_msg.filter(has_text="this is Amy").wait_for()
    # The console labels the agent's own message with their name, not their id.
    sent = agent_page.locator('[data-testid="msg"][data-sender="agent"]').last
    assert "AMY" in (await sent.inner_text()).upper()
    # An anonymous visitor gets a short handle, not their 32-character id.
    assert len(await agent_page.locator("#cust-name").inner_text()) < 20

    # A photo both ways: the customer's upload shows in the console (served only to agents),
    # the agent's attachment in the widget (fetched with the customer's token).
    await customer.get_by_test_id("rd-file").set_input_files(
        {"name": "crack.png", "mimeType": "image/png", "buffer": _png()}
    )
    shown = agent_page.get_by_test_id("media-image").last
    await shown.wait_for()
    await agent_page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=media-image]')]"
        ".some(i => i.naturalWidth > 0)"
    )
    await agent_page.get_by_test_id("reply-file").set_input_files(
        {"name": "label.png", "mimeType": "image/png", "buffer": _png()}
    )
    await customer.locator('[data-sender="agent"] [data-testid="rd-media-image"]').wait_for()
    await customer.wait_for_function(
        "() => [...document.querySelector('#relaydesk-widget').shadowRoot"
        ".querySelectorAll('[data-testid=rd-media-image]')].some(i => i.naturalWidth > 0)"
    )

    # Whatever a customer types is shown as text in the console, never run or rendered.
    await _say(customer, '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>')
    transcript = agent_page.get_by_test_id("transcript")
    await transcript.get_by_text("<img src=x", exact=False).wait_for()
    assert await transcript.locator("img[src=x], script").count() == 0
    assert await agent_page.evaluate("window.pwned === undefined")
    await agent_page.screenshot(path=str(artifacts / "console-conversation.png"))

    # A dropped socket loses nothing: what the agent sends meanwhile arrives after reconnect.
    await customer.evaluate("window.relaydesk.socket().close()")
    await agent_page.get_by_test_id("reply-input").fill("Sent while you were offline")
    await agent_page.get_by_test_id("reply-send").click()
    await agent_msg.filter(has_text="Sent while you were offline").wait_for()
    assert await agent_msg.filter(has_text="Sent while you were offline").count() == 1

    await agent_page.get_by_test_id("resolve").click()
    star = customer.locator('[data-testid="rd-star"][data-score="5"]')
    await star.wait_for()
    await star.click()
    await customer.get_by_test_id("rd-rating-comment").fill("quick and kind")
    await customer.get_by_test_id("rd-rating-submit").click()
    await (
        customer.locator('[data-testid="rd-msg"][data-sender="bot"]')
        .filter(has_text=re.compile("thank", re.I))
        .last.wait_for()
    )
    await customer.screenshot(path=str(artifacts / "widget-rated.png"))

    # History survives a reload: the same token, the same transcript.
    before = await customer.get_by_test_id("rd-msg").count()
    await customer.reload()
    await customer.get_by_test_id("rd-panel").wait_for()  # still open after the reload
    await customer.get_by_test_id("rd-msg").nth(before - 1).wait_for()
    # The agent's two texts and their picture.
    assert await customer.locator('[data-testid="rd-msg"][data-sender="agent"]').count() == 3
    await customer.locator('[data-sender="agent"] [data-testid="rd-media-image"]').wait_for()


def _png() -> bytes:
    """A real 2x2 PNG, so the browsers can decode what they show."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def _age_customer_messages(store: SqlStore, conversation_id: str, hours: float) -> None:
    """As if the customer had last written `hours` ago."""
    then = datetime.now(UTC) - timedelta(hours=hours)

    def work(s: Session) -> None:
        s.execute(
            update(MSG)
            .where(MSG.c.conversation_id == conversation_id, MSG.c.sender == "customer")
            .values(created_at=then)
        )
        s.commit()

    await store.db.run(work)


async def test_console_shows_failed_telegram_deliveries_and_the_closed_wechat_window(
    server: TestServer, site: str, browser: Any, artifacts: Path
) -> None:
    runtime = server.app[CONTEXT]
    engine, store = runtime.engine, runtime.store
    assert engine is not None and store is not None
    # No Telegram or WeChat connector runs here, so nothing sends: every reply to these customers
    # stays pending until the test says how its delivery went.
    tg = await engine.handle("telegram", "4242", "转人工")
    wx = await engine.handle("wechat", "o-wx-4242", "转人工")
    assert tg.status == wx.status == "queued"
    blocked = [m for m in await store.messages.of(tg.conversation_id) if m.sender != "customer"][-1]
    reason = "Forbidden: bot was blocked by the user"
    deliveries = Deliveries(store.db)
    await deliveries.failed(blocked.id, reason)
    # What the outbox adds when it gives up (connectors/outbox.py, Outbox._fail).
    await store.messages.append(
        tg.conversation_id,
        "system",
        f"Not delivered on Telegram / 未送达: {reason}",
        payload={
            "event": "delivery_failed",
            "message_id": blocked.id,
            "channel": "telegram",
            "reason": reason,
            "internal": True,
        },
    )

    page = await browser.new_page(viewport={"width": 1400, "height": 900}, locale="en-US")
    await _login(page, site)
    await page.get_by_test_id("me-name").filter(has_text="Amy").wait_for()
    queued = '[data-testid="queue-item"][data-conversation-id="{}"]'
    await page.locator(queued.format(tg.conversation_id)).get_by_test_id("claim").click()

    # The failed reply says so in red, with the channel's reason; the notice is a warning.
    reply = page.locator(f'[data-testid="msg"][data-id="{blocked.id}"]')
    failed = reply.get_by_test_id("delivery-failed")
    await failed.wait_for()
    assert await failed.inner_text() == f"✕ Not delivered: {reason}"
    assert await page.get_by_test_id("delivery-failed").count() == 1
    notice = page.locator('[data-testid="msg"][data-event="delivery_failed"]')
    assert "msg-warn" in (await notice.get_attribute("class") or "")
    assert await notice.get_by_test_id("delivery").count() == 0  # never sent to the customer
    assert await page.get_by_test_id("channel-window").is_hidden()  # Telegram has no window

    # The agent's reply shows "sending…" until the outbox reports it sent, then a check.
    await page.get_by_test_id("reply-input").fill("Hi, this is Amy.")
    await page.get_by_test_id("reply-send").click()
    mine = page.locator('[data-testid="msg"][data-sender="agent"]')
    await mine.locator('[data-status="pending"]').filter(has_text="sending…").wait_for()
    sent = next(m for m in await store.messages.of(tg.conversation_id) if m.sender == "agent")
    await deliveries.sent(sent.id, via="api")
    await mine.locator('[data-status="sent"]').wait_for(timeout=5000)
    await page.screenshot(path=str(artifacts / "console-delivery.png"))

    # WeChat: the bot's replies went back in the webhook's answer (passive: no quota) ...
    for m in await store.messages.of(wx.conversation_id):
        if m.sender != "customer":
            await deliveries.sent(m.id, via="passive")
    # ... so the window is open: 48 hours, and 4 of 5 messages left, since the "agent joined"
    # notice the claim adds is queued for the customer-service API ...
    await page.locator(queued.format(wx.conversation_id)).get_by_test_id("claim").click()
    window = page.get_by_test_id("channel-window")
    await window.filter(
        has_text=re.compile(r"^WeChat: 4 messages left, window closes in 4[78] h$")
    ).wait_for()
    box, send = page.get_by_test_id("reply-input"), page.get_by_test_id("reply-send")
    assert await box.is_enabled()
    # ... until the customer's last message is 49 hours old: the send is refused (409), the
    # reason shows by the reply box, the header updates and the reply box turns off.
    await _age_customer_messages(store, wx.conversation_id, hours=49)
    await box.fill("Are you still there?")
    await send.click()
    closed = "WeChat's 48-hour window closed; the customer must write again first"
    await page.get_by_test_id("reply-note").filter(has_text=closed).wait_for()
    await window.filter(has_text=closed).wait_for()
    assert await box.is_disabled() and await send.is_disabled()
    assert await box.input_value() == "Are you still there?"  # kept for another channel
    assert await page.locator("#notice").is_hidden()  # not a generic error
    stored = await store.messages.of(wx.conversation_id)
    assert all(m.text != "Are you still there?" for m in stored)

    # Opened afresh, the page knows before anyone types.
    await page.reload()
    await page.locator(
        f'[data-testid="mine-item"][data-conversation-id="{wx.conversation_id}"]'
    ).click()
    await window.filter(has_text=closed).wait_for()
    assert await box.is_disabled() and await send.is_disabled()
    assert "Replies are off" in await page.get_by_test_id("reply-note").inner_text()
    await page.screenshot(path=str(artifacts / "console-wechat-window.png"))


async def test_a_host_page_signs_its_visitor_and_a_stale_signature_is_refused(
    make_server: ServerFactory,
    aiohttp_server: ServerFactory,
    browser: Any,
) -> None:
    """widget.js passes data-user-id, data-user-ts and data-user-hash on to the server."""
    secret = "browser-identity-secret-0123"

    def signed(raw: dict[str, Any]) -> None:
        raw["connectors"]["web"]["identity_secret"] = secret

    server = await make_server(edit=signed, amy=False)
    site = site_of(server)
    store = server.app[CONTEXT].store
    assert store is not None

    def host_page(user_id: str, ts: int) -> str:
        signed = hmac.new(secret.encode(), f"{user_id}:{ts}".encode(), hashlib.sha256)
        return (
            '<!doctype html><html lang="en"><body><h1>Kite shop</h1>'
            f'<script src="{site}/widget.js" data-user-id="{user_id}" data-user-ts="{ts}"'
            f' data-user-hash="{signed.hexdigest()}"></script></body></html>'
        )

    # The host site: a shop of its own, on another origin, rendering the signed tag.
    pages: dict[str, str] = {}

    async def shop_page(request: web.Request) -> web.Response:
        return web.Response(text=pages[request.match_info["name"]], content_type="text/html")

    shop_app = web.Application()
    shop_app.router.add_get("/{name}", shop_page)
    shop = await aiohttp_server(shop_app)

    async def visit(name: str, html: str) -> Any:
        pages[name] = html
        page = await browser.new_page(locale="en-US")
        await page.goto(str(shop.make_url(f"/{name}")))
        await page.get_by_test_id("rd-launcher").click()
        return page

    now = int(time.time())
    page = await visit("account", host_page("u-3001", now))
    await _say(page, "hello")
    await page.locator('[data-testid="rd-msg"][data-sender="bot"]').first.wait_for()
    known = await store.customers.find("web_user", "u-3001")
    assert known is not None
    assert next(m.text for m in await store.messages.of_customer(known.id)) == "hello"

    stale = await visit("cached", host_page("u-3002", now - 2 * 86_400))
    await stale.get_by_test_id("rd-conn").filter(has_text="could not verify").wait_for()
    assert await store.customers.find("web_user", "u-3002") is None
