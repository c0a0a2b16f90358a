"""The agent console as people who use Intercom or Zendesk expect it (issue 20), in a real
Chromium against the real server, store and models, on a desktop (1280×800, English, Los Angeles
time) and a phone (390×844, touch, Chinese, Shanghai time).

One flow per size covers: browser notifications, sound and the title count for a new chat and a
customer's message while the agent is away; the reply box locked with its reason until the agent
claims; the customer's page, browser and contact in the customer panel; last-message previews;
typing both ways and read marks; an image and a PDF sent, a customer's photo previewed; display
names on notes, the holder and the transfer list; a refused send shown by the box in the agent's
language; transfer to a named colleague; handed back and resolved; past conversations opened
from the customer panel; times in the agent's zone; and a server restart (close 1012) shown as
"reconnecting" at once, recovered with nothing missed, a send that failed meanwhile kept.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import WSCloseCode, web

from bot.server.context import CONTEXT
from handoff.console import socket as console_socket
from handoff.console.services import CONSOLE
from tests.apps import PASSWORD
from tests.e2e.conftest import ServerFactory, site_of
from tests.e2e.test_browser import _png

# What the page does, recorded: Notification objects constructed (the real API shows nothing
# visible in headless Chromium), oscillators started (the sound), frames sent on the socket; and
# a switch for "the agent is away from the page" (visibility and focus).
AGENT_INIT = """
(() => {
  window.__notes = []; window.__beeps = 0; window.__sent = []; window.__hidden = false;
  const Real = window.Notification;
  if (Real) window.Notification = new Proxy(Real, { construct(target, args) {
    const o = args[1] || {};
    window.__notes.push({ title: String(args[0]), body: o.body || '', tag: o.tag || '' });
    return Reflect.construct(target, args);
  } });
  for (const C of [window.AudioContext, window.webkitAudioContext]) {
    if (!C || C.prototype.__counted) continue;
    const osc = C.prototype.createOscillator;
    C.prototype.createOscillator = function () { window.__beeps++; return osc.call(this); };
    C.prototype.__counted = true;
  }
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (d) {
    try { window.__sent.push(JSON.parse(d)); } catch (e) { /* not JSON */ }
    return send.call(this, d);
  };
  Object.defineProperty(Document.prototype, 'visibilityState',
    { configurable: true, get() { return window.__hidden ? 'hidden' : 'visible'; } });
  Object.defineProperty(Document.prototype, 'hidden',
    { configurable: true, get() { return window.__hidden; } });
  Document.prototype.hasFocus = function () { return !window.__hidden; };
  window.__away = (h) => {
    window.__hidden = h;
    document.dispatchEvent(new Event('visibilitychange'));
  };
  // Every text the connection line shows, with when: a 200 ms "Reconnecting…" is not missed.
  window.__conn = [];
  new MutationObserver(() => {
    const c = document.getElementById('conn');
    const text = c ? c.textContent : '';
    const last = window.__conn[window.__conn.length - 1];
    if (text && (!last || last.text !== text)) window.__conn.push({ text, at: performance.now() });
  }).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""

# The customer's page, with the same switch for "looking away" (a hidden tab).
CUSTOMER_INIT = """
(() => {
  window.__hidden = false;
  Object.defineProperty(Document.prototype, 'visibilityState',
    { configurable: true, get() { return window.__hidden ? 'hidden' : 'visible'; } });
  window.__away = (h) => {
    window.__hidden = h;
    document.dispatchEvent(new Event('visibilitychange'));
  };
})();
"""

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)

# (size, language): what each run checks the page says.
T = {
    "en": {
        "locale": "en-US",
        "tz": "America/Los_Angeles",
        "ask": "I want to talk to a human agent please",
        "queue_note": "New chat waiting",
        "msg_note": "New message from",
        "lock_claim": "Claim this conversation to reply",
        "lock_bot": "Handed back to the bot",
        "lock_resolved": "Resolved",
        "lock_other": "Bob Chen is handling this conversation",
        "typing": "Customer is typing…",
        "read": "Read",
        "delivered": "Delivered",
        "not_holder": "You do not hold this conversation: claim it to reply.",
        "bad_type": "Only images and PDF files can be sent.",
        "send_down": "Not sent: the connection is down.",
        "live": "Live",
        "retry": "Reconnecting…",
        "pv_customer": "Customer: ",
        "pv_bot": "Bot: ",
        "pv_agent": "Agent: ",
        "holder_you": "Handled by you",
        "web": "On the website",
    },
    "zh": {
        "locale": "zh-CN",
        "tz": "Asia/Shanghai",
        "ask": "转人工",
        "queue_note": "有新会话在排队",
        "msg_note": "发来新消息",
        "lock_claim": "接入此会话后才能回复",
        "lock_bot": "已交还机器人",
        "lock_resolved": "已解决",
        "lock_other": "Bob Chen 正在接待此会话",
        "typing": "客户正在输入…",
        "read": "已读",
        "delivered": "已送达",
        "not_holder": "你没有接待此会话，接入后才能回复。",
        "bad_type": "只能发送图片或 PDF 文件。",
        "send_down": "未发送：连接已断开。",
        "live": "已连接",
        "retry": "正在重连…",
        "pv_customer": "客户：",
        "pv_bot": "机器人：",
        "pv_agent": "坐席：",
        "holder_you": "由你接待",
        "web": "网站访问信息",
    },
}

SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}


async def _say(page: Any, text: str) -> None:
    box = page.get_by_test_id("rd-input")
    await box.fill(text)
    await box.press("Enter")


async def _count(page: Any, expr: str) -> int:
    return int(await page.evaluate(expr))


def _local_hm(iso: str, tz: str, lang: str) -> str:
    """A stored time as the console must show it: the agent's zone and the language's clock."""
    t = datetime.fromisoformat(iso).astimezone(ZoneInfo(tz))
    return t.strftime("%H:%M") if lang == "zh" else t.strftime("%I:%M %p")


@pytest.mark.parametrize(("size", "lang"), [("desktop", "en"), ("phone", "zh")])
async def test_console_parity(
    make_server: ServerFactory,
    browser: Any,
    artifacts: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: str,
    lang: str,
) -> None:
    from playwright.async_api import expect

    s = T[lang]
    server = await make_server()
    site = site_of(server)
    runtime = server.app[CONTEXT]
    store = runtime.store
    assert store is not None
    service = server.app[CONSOLE].handoff
    await store.agents.add(
        "bob",
        "Bob Chen",
        role="agent",
        skills=["after_sales", "pre_sales", "tech_support"],
        languages=["zh", "en"],
        status="online",
    )

    # The server side of every console socket, to close it as a restarting server does (1012).
    feeds: list[web.WebSocketResponse] = []
    real_init = console_socket.ConsoleFeed.__init__

    def spy_init(self: Any, ws: web.WebSocketResponse, *args: Any) -> None:
        feeds.append(ws)
        real_init(self, ws, *args)

    monkeypatch.setattr(console_socket.ConsoleFeed, "__init__", spy_init)

    # The agent: notifications granted, the agent's own zone and language.
    actx = await browser.new_context(
        **SIZES[size], locale=s["locale"], timezone_id=s["tz"], permissions=["notifications"]
    )
    await actx.add_init_script(AGENT_INIT)
    agent = await actx.new_page()
    await agent.goto(f"{site}/console")
    await agent.get_by_test_id("login-username").fill("amy")
    await agent.get_by_test_id("login-password").fill(PASSWORD)
    await agent.get_by_test_id("login-submit").click()
    conn = agent.get_by_test_id("conn")
    await conn.filter(has_text=s["live"]).wait_for()
    # The search of past conversations sits in the top bar.
    await agent.locator("#history-search").get_by_test_id("history-q").wait_for()

    # Notifications: asked from the bell (a click), remembered over a reload; sound on.
    bell = agent.get_by_test_id("notify-toggle")
    assert await bell.get_attribute("aria-pressed") == "false"
    await bell.click()
    await agent.wait_for_function(
        "() => document.querySelector('[data-testid=notify-toggle]').ariaPressed === 'true'"
    )
    assert await agent.get_by_test_id("sound-toggle").get_attribute("aria-pressed") == "true"
    await agent.reload()
    await conn.filter(has_text=s["live"]).wait_for()
    assert await bell.get_attribute("aria-pressed") == "true"

    # The agent looks away; a customer asks for a person.
    await agent.evaluate("window.__away(true)")
    cctx = await browser.new_context(**SIZES[size], locale=s["locale"])
    await cctx.add_init_script(CUSTOMER_INIT)
    customer = await cctx.new_page()
    await customer.goto(f"{site}/?utm=parity")
    await customer.get_by_test_id("rd-launcher").click()
    await _say(customer, s["ask"])
    item = agent.get_by_test_id("queue-item").first
    await item.wait_for()
    cid = await item.get_attribute("data-conversation-id")
    assert cid
    await agent.wait_for_function(
        "(t) => window.__notes.some(n => n.title === t)", arg=s["queue_note"]
    )
    await agent.wait_for_function("() => /^\\(1\\) /.test(document.title)")
    assert await _count(agent, "window.__beeps") > 0
    # Back at the page: the count goes.
    await agent.evaluate("window.__away(false)")
    await agent.wait_for_function("() => !/^\\(\\d+\\) /.test(document.title)")

    # The queue shows who wrote last and what.
    pv = item.get_by_test_id("preview")
    await pv.wait_for()
    # The bot's "connecting you" line, marked as the bot's, cut to 120 characters at most.
    line = await pv.inner_text()
    assert line.startswith(s["pv_bot"]) and len(line) <= len(s["pv_bot"]) + 120

    # Viewed, not claimed: the reply box is off, with why and a claim button.
    await item.get_by_test_id("view").click()
    box, send = agent.get_by_test_id("reply-input"), agent.get_by_test_id("reply-send")
    lock = agent.get_by_test_id("reply-lock")
    await lock.filter(has_text=s["lock_claim"]).wait_for()
    assert await box.is_disabled() and await send.is_disabled()
    assert await agent.get_by_test_id("reply-file").is_disabled()
    await agent.get_by_test_id("reply-claim").click()
    await lock.wait_for(state="hidden")
    assert await box.is_enabled()
    await agent.get_by_test_id("conv-holder").filter(has_text=s["holder_you"]).wait_for()

    # The customer panel: the page they are on, their browser; contact details when known.
    web_ctx = agent.get_by_test_id("web-context")
    await web_ctx.filter(has_text=s["web"]).wait_for()
    page_link = web_ctx.get_by_test_id("web-page").locator("a")
    assert "utm=parity" in (await page_link.get_attribute("href") or "")
    assert await web_ctx.get_by_test_id("web-browser").inner_text()
    assert await web_ctx.get_by_test_id("web-timezone").inner_text()

    # Typing: the agent's frames are throttled (one "on" for a burst), the customer's shown.
    await box.press_sequentially("Hello there", delay=20)
    ons = await _count(
        agent,
        "window.__sent.filter(f => f.type === 'typing' && f.on"
        f" && f.conversation_id === '{cid}').length",
    )
    assert ons == 1
    await customer.get_by_test_id("rd-input").press_sequentially("my screen", delay=30)
    await agent.get_by_test_id("typing").filter(has_text=s["typing"]).wait_for()
    if size == "desktop":  # the customer panel with the web visit, previews, typing
        await agent.screenshot(path=str(artifacts / "console-parity.png"), full_page=True)
    await box.fill("Hi, this is Amy. How can I help?")
    await send.click()
    sent_off = "window.__sent.some(f => f.type === 'typing' && f.on === false)"
    await agent.wait_for_function(f"() => {sent_off}")
    await (
        customer.locator('[data-testid="rd-msg"][data-sender="agent"]')
        .filter(has_text="this is Amy")
        .wait_for()
    )
    # "My conversations" shows the latest message with its sender.
    mine_item = agent.locator(f'[data-testid="mine-item"][data-conversation-id="{cid}"]')
    await (
        mine_item.get_by_test_id("preview")
        .filter(has_text=s["pv_agent"] + "Hi, this is Amy")
        .wait_for()
    )
    # The customer's widget is open and shown: their read mark comes back to the console.
    mine_msg = agent.locator('[data-testid="msg"][data-sender="agent"]').last
    await (
        mine_msg.locator('[data-testid="read-mark"][data-state="read"]')
        .filter(has_text=s["read"])
        .wait_for()
    )

    # A message that reaches a customer who looks elsewhere is delivered, not read, until they
    # look again.
    await customer.evaluate("window.__away(true)")
    await box.fill("One moment please")
    await send.click()
    moment = agent.locator('[data-testid="msg"][data-sender="agent"]').filter(
        has_text="One moment please"
    )
    await (
        moment.locator('[data-testid="read-mark"][data-state="delivered"]')
        .filter(has_text=s["delivered"])
        .wait_for()
    )
    await customer.evaluate("window.__away(false)")
    await moment.locator('[data-testid="read-mark"][data-state="read"]').wait_for()

    # The customer's message: typing goes away, the console marks it read (page shown).
    await customer.get_by_test_id("rd-input").press("Enter")
    await agent.get_by_test_id("typing").wait_for(state="hidden")
    last_customer = agent.locator('[data-testid="msg"][data-sender="customer"]').last
    await last_customer.filter(has_text="my screen").wait_for()
    msg_id = int(await last_customer.get_attribute("data-id") or 0)
    await agent.wait_for_function(
        "(id) => window.__sent.some(f => f.type === 'read' && f.up_to === id)", arg=msg_id
    )

    # Files: an image and a PDF from the agent, the customer's photo previewed.
    await agent.get_by_test_id("reply-file").set_input_files(
        {"name": "label.png", "mimeType": "image/png", "buffer": _png()}
    )
    await agent.locator('[data-sender="agent"] [data-testid="media-image"]').wait_for()
    await agent.get_by_test_id("reply-file").set_input_files(
        {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    await (
        agent.locator('[data-sender="agent"] [data-testid="media-file"]')
        .filter(has_text="invoice.pdf")
        .wait_for()
    )
    await customer.get_by_test_id("rd-file").set_input_files(
        {"name": "crack.png", "mimeType": "image/png", "buffer": _png()}
    )
    await agent.locator('[data-sender="customer"] [data-testid="media-image"]').wait_for()
    await agent.wait_for_function(
        "() => [...document.querySelectorAll('[data-sender=customer] [data-testid=media-image]')]"
        ".some(i => i.naturalWidth > 0)"
    )

    await mine_item.get_by_test_id("preview").filter(has_text=s["pv_customer"]).wait_for()

    # A note is signed with the agent's name.
    await agent.get_by_test_id("note-input").fill("Screen cracked on arrival")
    await agent.get_by_test_id("note-add").click()
    meta = agent.get_by_test_id("note-meta").last
    await meta.filter(has_text="Amy").wait_for()

    # Times: the agent's zone and clock, never the server's ISO text.
    stamp = await last_customer.locator("time").get_attribute("datetime")
    assert stamp
    assert await last_customer.locator("time").inner_text() == _local_hm(stamp, s["tz"], lang)
    body = await agent.locator("body").inner_text()
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", body)

    # The agent looks away; the customer writes: a notification, a sound and a count.
    beeps = await _count(agent, "window.__beeps")
    await agent.evaluate("window.__away(true)")
    await _say(customer, "still waiting")
    await agent.wait_for_function(
        "(t) => window.__notes.some(n => n.title.includes(t) && n.body === 'still waiting')",
        arg=s["msg_note"],
    )
    await agent.wait_for_function("() => /^\\(1\\) /.test(document.title)")
    assert await _count(agent, "window.__beeps") > beeps
    await agent.evaluate("window.__away(false)")
    await agent.wait_for_function("() => !/^\\(\\d+\\) /.test(document.title)")
    # Sound off: the next alert is silent, the notification still shows.
    await agent.get_by_test_id("sound-toggle").click()
    assert await agent.get_by_test_id("sound-toggle").get_attribute("aria-pressed") == "false"
    beeps = await _count(agent, "window.__beeps")
    await agent.evaluate("window.__away(true)")
    await _say(customer, "ping")
    await agent.wait_for_function("() => window.__notes.some(n => n.body === 'ping')")
    assert await _count(agent, "window.__beeps") == beeps
    await agent.evaluate("window.__away(false)")
    await agent.screenshot(path=str(artifacts / f"console-parity-{size}.png"), full_page=True)

    # Refusals are said by the box in the agent's language, from the API's code: a file of the
    # wrong type (415) ...
    err = agent.get_by_test_id("reply-error")
    await agent.get_by_test_id("reply-file").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just text"}
    )
    await err.filter(has_text=s["bad_type"]).wait_for()
    # ... and a send that crossed a transfer (another tab, a supervisor): 409, never the server's
    # sentence ("amy does not hold conversation …"); the text stays.

    async def transfer_first(route: Any) -> None:
        await service.transfer(cid, "pre_sales")
        await route.continue_()

    await agent.route("**/send", transfer_first, times=1)
    await box.fill("Are you there?")
    await send.click()
    await err.filter(has_text=s["not_holder"]).wait_for()
    assert "does not hold" not in await err.inner_text()
    assert await err.get_attribute("role") == "alert"
    await expect(err).to_be_in_viewport()  # by the box, on screen on the phone too
    await lock.filter(has_text=s["lock_claim"]).wait_for()
    assert await box.input_value() == "Are you there?"
    await agent.get_by_test_id("reply-claim").click()
    await lock.wait_for(state="hidden")

    # Transfer to a named colleague: shown by display name with status and load.
    picker = agent.get_by_test_id("transfer-group")
    bob = picker.locator('option[value="agent:bob"]')
    await bob.wait_for(state="attached")
    assert (await bob.inner_text()).startswith("Bob Chen · ")
    await picker.select_option("agent:bob")
    await agent.get_by_test_id("transfer").click()
    await lock.filter(has_text=s["lock_other"]).wait_for()
    assert await box.is_disabled()
    assert await agent.get_by_test_id("reply-claim").is_hidden()

    # Bob hands it back to the bot: the box says so.
    await service.return_to_bot(cid)
    await lock.filter(has_text=s["lock_bot"]).wait_for()

    # A restart: the server closes the socket with 1012; "reconnecting" at once, back within
    # about a second; what the customer said meanwhile is there; a send that failed is kept.
    await _say(customer, s["ask"])
    await (
        agent.locator(f'[data-testid="queue-item"][data-conversation-id="{cid}"]')
        .get_by_test_id("claim")
        .click()
    )
    await lock.wait_for(state="hidden")
    await agent.route("**/send", lambda route: route.abort())
    t0 = await agent.evaluate("performance.now()")
    for ws in list(feeds):
        if not ws.closed:
            await ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"restarting")
    await agent.wait_for_function(
        "([t0, live]) => window.__conn.some(c => c.at > t0 && c.text === live)"
        " && window.__conn.some(c => c.at > t0 && c.text !== live)",
        arg=[t0, s["live"]],
        timeout=5000,
    )
    seen = [c for c in await agent.evaluate("window.__conn") if c["at"] > t0]
    assert [c["text"] for c in seen][:2] == [s["retry"], s["live"]]
    assert seen[0]["at"] - t0 < 2000  # "reconnecting" at once
    assert seen[1]["at"] - seen[0]["at"] < 3000  # 0.2–1 s jitter, then connected
    await box.fill("Sorry for the wait")
    await send.click()
    await err.filter(has_text=s["send_down"]).wait_for()
    assert await box.input_value() == "Sorry for the wait"
    await _say(customer, "hello again")
    await (
        agent.locator('[data-testid="msg"][data-sender="customer"]')
        .filter(has_text="hello again")
        .wait_for()
    )
    await agent.unroute("**/send")
    await send.click()
    await (
        customer.locator('[data-testid="rd-msg"][data-sender="agent"]')
        .filter(has_text="Sorry for the wait")
        .wait_for()
    )
    await err.wait_for(state="hidden")

    # Resolved: the box says so.
    await agent.get_by_test_id("resolve").click()
    await lock.filter(has_text=s["lock_resolved"]).wait_for()

    # A new chat of the same customer: the resolved one is a past conversation that opens,
    # read-only, from the customer panel (console-history.js).
    await _say(customer, s["ask"])
    fresh = agent.locator(f'[data-testid="queue-item"]:not([data-conversation-id="{cid}"])')
    await fresh.first.wait_for()
    await fresh.first.get_by_test_id("view").click()
    past = agent.locator(f'[data-testid="past-conversation"][data-conversation-id="{cid}"]')
    await past.click()
    dialog = agent.get_by_test_id("history-dialog")
    await dialog.get_by_test_id("history-msg").filter(has_text="Sorry for the wait").wait_for()
    assert await dialog.is_visible()
    await actx.close()
    await cctx.close()
