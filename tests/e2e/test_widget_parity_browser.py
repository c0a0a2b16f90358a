"""Issue 20, the widget side, in Debian's Chromium against the real server: greeting and topics,
the language switch, a reload that keeps the panel open, queue texts in the widget's language,
typing both ways, notifications (badge, title, sound, auto-open), delivered/read marks,
attachments both ways, autolinks, a restart (close 1012) with a message typed meanwhile, the
separator after an ended conversation, and the page context the agents are shown.

Each flow runs on a desktop in English and on a phone in Chinese. The agent side is driven
through the server's own services (claim, send, resolve) and its signal bus, since the console's
half of these features is tested in tests/e2e/test_console_parity_browser.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.events import Signal
from bot.server.context import CONTEXT
from tests.apps import until
from tests.e2e.conftest import ServerFactory
from tests.e2e.test_browser import _png

ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36"
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
WIDGET = "document.querySelector('#relaydesk-widget').shadowRoot"

# What each language must say (the widget's own strings, and config.yml's options).
SAYS: dict[str, dict[str, Any]] = {
    "en": {
        "greeting": "Hi, welcome to Sample Shop!",
        "reply_time": "usually replies within 5 minutes",
        "topics": ["Track an order", "Returns", "Talk to a person"],
        "placeholder": "Type a message…",
        "send": "Send",
        "switch": "中文",
        "queued": re.compile(r"You are number 1 in line"),
        "typing": "Amy is typing…",
        "new": "New message",
        "delivered": "Delivered",
        "read": "Read",
        "rate": "How would you rate our service?",
        "ended": "Conversation ended",
        "reconnecting": "Reconnecting",
        "joined": "Amy has joined the chat.",
    },
    "zh": {
        "greeting": "您好，欢迎光临示例商城！",
        "reply_time": "5 分钟内回复",
        "topics": ["查订单", "退换货", "转人工"],
        "placeholder": "请输入消息…",
        "send": "发送",
        "switch": "EN",
        "queued": re.compile(r"排队中：第 1 位，您前面还有 0 位"),
        "typing": "Amy 正在输入…",
        "new": "新消息",
        "delivered": "已送达",
        "read": "已读",
        "rate": "请为本次服务评分",
        "ended": "对话已结束",
        "reconnecting": "正在重新连接",
        "joined": "人工客服 Amy 已接入",
    },
}
CASES = [
    pytest.param({"width": 1280, "height": 800}, False, "en", id="desktop-en"),
    pytest.param({"width": 390, "height": 844}, True, "zh", id="phone-zh"),
]

# Counts the chimes: every WebAudio oscillator the page starts.
COUNT_BEEPS = """
window.__beeps = 0;
const Ctx = window.AudioContext;
if (Ctx) {
  const make = Ctx.prototype.createOscillator;
  Ctx.prototype.createOscillator = function () { window.__beeps += 1; return make.call(this); };
}
"""

# Plays the customer switching tabs: the page's visibility as the widget reads it.
VISIBILITY = """(state) => {
  Object.defineProperty(document, 'visibilityState', { value: state, configurable: true });
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def _host_page(lang: str, site: str) -> str:
    return (
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        "<title>Kite shop</title></head><body><h1>Kite shop</h1>"
        f'<script src="{site}/widget.js" data-sound="on" data-auto-open="agent"></script>'
        "</body></html>"
    )


@pytest.mark.parametrize(("size", "mobile", "lang"), CASES)
async def test_the_widget_matches_what_customers_expect(
    server: TestServer,
    aiohttp_server: ServerFactory,
    site: str,
    browser: Any,
    artifacts: Path,
    size: dict[str, int],
    mobile: bool,
    lang: str,
) -> None:
    from playwright.async_api import expect

    says, other = SAYS[lang], SAYS["en" if lang == "zh" else "zh"]

    # The shop embedding the widget: a site of its own, on another origin.
    async def shop_page(request: web.Request) -> web.Response:
        return web.Response(text=_host_page(lang, site), content_type="text/html")

    shop_app = web.Application()
    shop_app.router.add_get("/shop", shop_page)
    shop = str((await aiohttp_server(shop_app)).make_url("/shop"))
    runtime = server.app[CONTEXT]
    store, handoff, signals = runtime.store, runtime.handoff, runtime.signals
    assert store is not None and handoff is not None
    heard: list[Signal] = []
    signals.subscribe(heard.append)

    context = await browser.new_context(
        viewport=size,
        is_mobile=mobile,
        has_touch=mobile,
        locale="zh-CN" if lang == "zh" else "en-US",
        timezone_id="Asia/Shanghai" if lang == "zh" else "Europe/Berlin",
        **({"user_agent": ANDROID} if mobile else {}),
    )
    await context.add_init_script(COUNT_BEEPS)
    page = await context.new_page()

    # The widget's socket runs through a route, so the test can play a restarting server.
    refusing = {"on": False, "refused": 0}
    routes: list[Any] = []

    async def relay(ws: Any) -> None:
        if refusing["on"]:
            refusing["refused"] += 1
            await ws.close(code=1012, reason="restarting")
            return
        ws.connect_to_server()
        routes.append(ws)

    await page.route_web_socket(re.compile(r"/ws/widget$"), relay)
    await page.goto(shop)
    w = page.get_by_test_id
    await w("rd-launcher").click()

    # -- greeting, reply time and topics, in the page's language; no Telegram without it ----
    await expect(w("rd-greeting")).to_contain_text(says["greeting"])
    await expect(w("rd-reply-time")).to_contain_text(says["reply_time"])
    await expect(w("rd-topic")).to_have_text(says["topics"])
    await expect(w("rd-input")).to_have_attribute("placeholder", says["placeholder"])
    await expect(w("rd-telegram")).to_be_hidden()
    if lang == "zh":
        await page.screenshot(path=str(artifacts / "widget-greeting-zh.png"))

    # -- the switch: every string in the other language, remembered, the server told -------
    await expect(w("rd-lang")).to_have_text(says["switch"])
    await w("rd-lang").click()
    await expect(w("rd-topic")).to_have_text(other["topics"])
    await expect(w("rd-greeting")).to_contain_text(other["greeting"])
    await expect(w("rd-send")).to_have_text(other["send"])
    await expect(w("rd-input")).to_have_attribute("placeholder", other["placeholder"])
    await w("rd-lang").click()
    await expect(w("rd-topic")).to_have_text(says["topics"])
    assert await page.evaluate("localStorage.getItem('relaydesk.language')") == lang

    # -- a reload keeps the panel open ---------------------------------------------------------
    await page.reload()
    await expect(w("rd-panel")).to_be_visible()
    await expect(w("rd-topic")).to_have_count(3)

    # -- a topic sends its payload, shown by its title; the queue speaks the widget's language -
    await w("rd-topic").filter(has_text=says["topics"][2]).click()
    customer = page.locator('[data-testid="rd-msg"][data-sender="customer"]')
    await expect(customer.first).to_have_text(re.compile(re.escape(says["topics"][2])))
    await expect(w("rd-status")).to_have_text(says["queued"])
    await expect(w("rd-topics")).to_be_hidden()  # the conversation has begun
    conv_id = await page.evaluate(
        f"{WIDGET}.querySelector('[data-sender=customer]').getAttribute('data-conversation')"
    )
    conv = await store.conversations.get(conv_id)

    # The page context is the agents' now (C5), with the browser in short.
    seen = await until(lambda: store.web_context.latest(conv.customer_id))
    assert seen.page_url == shop and seen.page_title == "Kite shop"
    assert seen.timezone == ("Asia/Shanghai" if lang == "zh" else "Europe/Berlin")
    assert seen.screen and seen.language == lang
    assert seen.browser == "Chrome 120 on Android" if mobile else seen.browser.startswith("Chrome")

    # -- typing, both ways ---------------------------------------------------------------------
    await w("rd-input").press_sequentially("hel")
    await until(lambda: any(s.kind == "typing" and s.data["on"] for s in heard))
    await handoff.claim(conv_id, "amy")
    await expect(page.locator('[data-sender="system"]').last).to_contain_text(says["joined"])
    await signals.publish(Signal(conv_id, "typing", "agent", {"on": True, "name": "Amy"}))
    await expect(w("rd-typing")).to_have_text(says["typing"])

    # -- auto-open on the agent's first message; links are links, markup is text --------------
    await w("rd-input").fill("")
    await w("rd-close").click()
    await expect(w("rd-panel")).to_be_hidden()
    await handoff.send(conv_id, "amy", "Track it at https://example.com/track?id=1. <b>bold</b>")
    await expect(w("rd-panel")).to_be_visible()
    agent = page.locator('[data-testid="rd-msg"][data-sender="agent"]')
    link = agent.last.get_by_test_id("rd-link")
    await expect(link).to_have_text("https://example.com/track?id=1")
    await expect(link).to_have_attribute("href", "https://example.com/track?id=1")
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(agent.last).to_contain_text("<b>bold</b>")
    assert await agent.last.locator("b").count() == 0
    await expect(w("rd-typing")).to_be_hidden()  # the message ends the agent's typing

    # -- a message while the panel is closed: badge, title, chime; reading clears them -----
    await w("rd-close").click()
    beeps = await page.evaluate("window.__beeps")
    sent = await handoff.send(conv_id, "amy", "Are you still there?")
    await expect(w("rd-badge")).to_have_text("1")
    flashed = f"(1) {says['new']}"
    await page.wait_for_function(f"document.title.includes('{flashed}')")
    await page.wait_for_function(f"window.__beeps > {beeps}")
    await page.screenshot(
        path=str(artifacts / ("widget-badge.png" if lang == "en" else "widget-badge-zh.png"))
    )
    await w("rd-launcher").click()
    await expect(w("rd-badge")).to_be_hidden()
    await page.wait_for_function("document.title === 'Kite shop'")
    # The page in another tab counts as unseen too, with the panel open.
    await page.evaluate(VISIBILITY, "hidden")
    sent = await handoff.send(conv_id, "amy", "Are you there now?")
    await expect(w("rd-badge")).to_have_text("1")
    await page.wait_for_function(f"document.title.includes('{flashed}')")
    await page.evaluate(VISIBILITY, "visible")
    await expect(w("rd-badge")).to_be_hidden()
    await page.wait_for_function("document.title === 'Kite shop'")
    marks = await until(lambda: _read_up_to(store, conv_id, "customer", at_least=sent.message.id))
    assert marks.received_up_to >= sent.message.id

    # -- the agents' marks on the customer's messages -------------------------------------
    await w("rd-input").fill("Yes, thanks")
    await w("rd-send").click()
    mine = customer.filter(has_text="Yes, thanks")
    await expect(mine).to_have_attribute("data-id", re.compile(r"^\d+$"))
    mine_id = int(await mine.get_attribute("data-id") or 0)
    for moved in ({"received_up_to": mine_id}, {"read_up_to": mine_id}):
        await store.read_marks.mark(conv_id, "agent", **moved)
        await signals.publish(Signal(conv_id, "receipt", "agent", dict(moved)))
        word = says["read" if "read_up_to" in moved else "delivered"]
        await expect(mine.get_by_test_id("rd-mark")).to_have_text(word)

    # -- files both ways: the customer's PDF, the agent's PDF and picture ---------------------
    await w("rd-file").set_input_files(
        {"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    await expect(customer.get_by_test_id("rd-media-file")).to_contain_text("receipt.pdf")
    for name, mime, data in (
        ("invoice.pdf", "application/pdf", PDF),
        ("label.png", "image/png", _png()),
    ):
        await handoff.send(
            conv_id, "amy", "", media=await store.media.prepare(data, mime_type=mime, filename=name)
        )
    pdf = agent.get_by_test_id("rd-media-file")
    await expect(pdf).to_contain_text("invoice.pdf")
    await expect(pdf).to_have_attribute("href", re.compile(r"^blob:"))
    await page.wait_for_function(
        f"[...{WIDGET}.querySelectorAll('[data-sender=agent] [data-testid=rd-media-image]')]"
        ".some(i => i.naturalWidth > 0)"
    )

    # -- a restart: "reconnecting" at once, a quick return, nothing lost ----------------------
    refusing["on"] = True
    await routes[-1].close(code=1012, reason="restarting")
    await expect(w("rd-conn")).to_contain_text(says["reconnecting"], timeout=2000)
    await w("rd-input").fill("typed during the restart")
    await w("rd-send").click()
    pending = customer.filter(has_text="typed during the restart")
    await expect(pending).to_have_class(re.compile(r"\bpending\b"))
    await handoff.send(conv_id, "amy", "sent during the restart")
    # 1012 retries stay quick: four refusals would be 8 s of back-off otherwise.
    await until(lambda: refusing["refused"] >= 4, timeout=8)
    refusing["on"] = False
    await expect(w("rd-conn")).to_be_hidden(timeout=1500)
    await expect(pending).not_to_have_class(re.compile(r"\bpending\b"))
    await expect(agent.filter(has_text="sent during the restart")).to_have_count(1)
    texts = [m.text for m in await store.messages.of(conv_id)]
    assert texts.count("typed during the restart") == 1

    # -- the end: the rating in the widget's language, then a line before the next chat -------
    await handoff.resolve(conv_id)
    await expect(w("rd-rate-prompt")).to_have_text(says["rate"])
    await page.locator('[data-testid="rd-star"][data-score="5"]').click()
    await w("rd-rating-submit").click()
    await expect(w("rd-rating-thanks")).to_be_visible()
    await w("rd-input").fill("one more question")
    await w("rd-send").click()
    await expect(w("rd-separator")).to_have_text(says["ended"])
    await context.close()


async def _read_up_to(store: Any, conv_id: str, reader: str, *, at_least: int) -> Any:
    marks = (await store.read_marks.get(conv_id)).get(reader)
    return marks if marks is not None and (marks.read_up_to or 0) >= at_least else None
