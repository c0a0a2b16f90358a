"""Issue 21 (D7), in Debian's Chromium against the real server with its proactive scheduler: a
visitor who lingers on a product page of the demo shop (the sample demo page served at a
product URL of another site, its embed tag shortened with data-dwell-seconds) is offered help in
the widget without having written: "需要帮助吗？" / "Need help?", with the opt-out button, which
works. Time the page is hidden does not count; the widget reports the page view once.

Each flow runs on a desktop in English and on a phone in Chinese."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from aiohttp import web

from bot.server.context import CONTEXT
from connectors.web.identity import CHANNEL, sender_for
from connectors.web.socket import STATIC
from tests.apps import until
from tests.e2e.conftest import ServerFactory, site_of

DWELL_S = 2
HIDDEN_S = 3
PROMPT = {"zh": "需要帮助吗", "en": "Need help?"}
OPT_OUT = {"zh": ("退订", "已退订"), "en": ("Opt out", "unsubscribed")}
CASES = [
    pytest.param({"width": 1280, "height": 800}, False, "en", id="desktop-en"),
    pytest.param({"width": 390, "height": 844}, True, "zh", id="phone-zh"),
]
# The page starts hidden (a tab opened in the background) until the test shows it.
START_HIDDEN = """
window.__setVisibility = (state) => {
  Object.defineProperty(document, 'visibilityState', { value: state, configurable: true });
  Object.defineProperty(document, 'hidden', { value: state !== 'visible', configurable: true });
  document.dispatchEvent(new Event('visibilitychange'));
};
Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
Object.defineProperty(document, 'hidden', { value: true, configurable: true });
"""


def _fast_proactive(raw: dict[str, Any]) -> None:
    """The shipped rules, looked at every second. Quiet hours stay on: the shipped dwell rule
    reaches only an open widget and skips them, so the prompt shows at any hour in Shanghai."""
    raw["proactive"]["interval_seconds"] = 1


def _product_page(site: str, lang: str) -> str:
    """The demo shop's page, as a product page of the shop's own site embedding the widget."""
    html = (STATIC / "demo.html").read_text(encoding="utf-8")
    tag = '<script src="/widget.js" defer'
    assert tag in html
    html = html.replace(
        tag, f'<script src="{site}/widget.js" defer data-dwell-seconds="{DWELL_S}"', 1
    )
    return html.replace('<html lang="en">', f'<html lang="{"zh-CN" if lang == "zh" else "en"}">')


@pytest.mark.parametrize(("size", "mobile", "lang"), CASES)
async def test_a_visitor_lingering_on_a_product_page_is_offered_help_in_the_widget(
    make_server: ServerFactory,
    aiohttp_server: ServerFactory,
    browser: Any,
    size: dict[str, int],
    mobile: bool,
    lang: str,
) -> None:
    from playwright.async_api import expect

    server = await make_server(edit=_fast_proactive, amy=False)
    site = site_of(server)
    store = server.app[CONTEXT].store

    async def product(request: web.Request) -> web.Response:
        return web.Response(text=_product_page(site, lang), content_type="text/html")

    shop_app = web.Application()
    shop_app.router.add_get("/products/kite-x5", product)
    shop = str((await aiohttp_server(shop_app)).make_url("/products/kite-x5"))

    context = await browser.new_context(
        viewport=size,
        is_mobile=mobile,
        has_touch=mobile,
        locale="zh-CN" if lang == "zh" else "en-US",
        timezone_id="Asia/Shanghai",
    )
    await context.add_init_script(START_HIDDEN)
    page = await context.new_page()
    # What the page sends on the widget's socket, passed on unchanged.
    sent: list[dict[str, Any]] = []

    async def relay(ws: Any) -> None:
        to_server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            sent.append(json.loads(message))
            to_server.send(message)

        ws.on_message(from_page)

    await page.route_web_socket(re.compile(r"/ws/widget$"), relay)
    loaded = asyncio.get_running_loop().time()
    await page.goto(shop)
    w = page.get_by_test_id
    await expect(w("rd-launcher")).to_be_visible()
    await until(lambda: any(f["type"] == "hello" for f in sent), timeout=10)

    # Hidden for longer than the dwell: nothing is counted, nothing reported.
    await asyncio.sleep(HIDDEN_S)
    assert not [f for f in sent if f["type"] == "dwell"]
    await page.evaluate("window.__setVisibility('visible')")

    # Visible for the dwell: one report of this page view, counting visible time only.
    dwell = await until(lambda: [f for f in sent if f["type"] == "dwell"], timeout=10)
    elapsed = asyncio.get_running_loop().time() - loaded
    assert len(dwell) == 1
    assert dwell[0]["page_url"] == shop
    assert elapsed >= HIDDEN_S + DWELL_S  # counting hidden time too would say 5 or more
    assert DWELL_S <= dwell[0]["seconds"] <= DWELL_S + 1
    assert isinstance(dwell[0]["view_id"], str) and dwell[0]["view_id"]

    # The server made the visitor known and recorded the event; the scheduler writes first.
    token = await page.evaluate("localStorage.getItem('relaydesk.token')")
    customer = await until(lambda: store.customers.find(CHANNEL, sender_for(token)), timeout=10)
    events = await until(lambda: store.customer_events.of_customer(customer.id), timeout=10)
    assert [(e.source, e.type) for e in events] == [("widget", "page_dwell")]

    # The prompt arrives unseen: the launcher counts it; opening the panel shows it.
    await expect(w("rd-badge")).to_have_text("1", timeout=30_000)
    await w("rd-launcher").click()
    prompt = w("rd-msg").filter(has_text=PROMPT[lang])
    await expect(prompt).to_have_count(1)
    await expect(prompt).to_have_attribute("data-sender", "bot")

    # Its last button opts out: confirmed in the widget's language, recorded for the customer.
    button, confirmed = OPT_OUT[lang]
    await prompt.get_by_test_id("rd-quick").filter(has_text=button).click()
    await expect(w("rd-msg").filter(has_text=confirmed)).to_have_count(1, timeout=15_000)
    opted = await store.opt_outs.opt_out_of(customer.id)
    assert opted is not None and opted[:2] == ("web", "button")

    # Still one dwell for this page view, after all that.
    assert len([f for f in sent if f["type"] == "dwell"]) == 1
    assert len(await store.customer_events.of_customer(customer.id)) == 1
    await context.close()
