"""Past conversations in the console, in Debian's Chromium, on a desktop in English and on a
390×844 phone in Chinese: a dashboard-style link (#conversation=<cid>) opens the read-only
transcript right after signing in; Escape closes it; the top bar's search finds the conversation
by a Chinese word and by an English one (not a chat Amy never had), with the match marked in the
snippet and the date in the browser's time zone; a hit opens the transcript with its files as
links, the close button closes it and the focus goes back to the search box; the console's
language switch reaches the search box; a link to a chat Amy may not read says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot import clock
from bot.server.context import CONTEXT
from bot.store.sql_store import SqlStore
from tests.apps import PASSWORD
from tests.e2e.conftest import site_of

DESKTOP = {"viewport": {"width": 1280, "height": 800}, "locale": "en-US"}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "locale": "zh-CN",
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
TEXTS = {
    "en": {"close": "Close", "title": "Conversation with 林伟", "customer": "Customer"},
    "zh": {"close": "关闭", "title": "与 林伟 的会话", "customer": "客户"},
}


async def _past_conversations(store: SqlStore) -> tuple[str, str]:
    """A chat Amy served and resolved last week, and one the bot handled alone."""
    amy = await store.agents.get("amy")
    lin = await store.customers.for_identity("web", "lin-wei")
    await store.customers.update(lin.id, name="林伟")
    conv = await store.conversations.active(lin.id, "web")
    cid = conv.id
    await store.messages.append(cid, "customer", "我的蓝牙耳机连不上了，订单号202312345678")
    await store.messages.append(cid, "bot", "我帮您转接人工客服。")
    h = await store.handoffs.queue(cid, "asked", "after_sales")
    assert await store.handoffs.assign(h.id, amy.id)
    await store.messages.append(
        cid, "agent", "Please reset the earbuds; a refund is possible.", sender_id=amy.id
    )
    await store.messages.append(
        cid, "customer", "照片", payload={"image": "https://shop.example/broken.jpg"}
    )
    await store.messages.append(cid, "system", "internal: customer was polite")
    await store.handoffs.update(h.id, status="resolved", resolved_at=clock.now())
    await store.conversations.update(cid, status="closed", closed_at=clock.now())
    other = await store.customers.for_identity("web", "stranger")
    elsewhere = await store.conversations.active(other.id, "web")
    await store.messages.append(elsewhere.id, "customer", "蓝牙 refund for someone else")
    return cid, elsewhere.id


@pytest.mark.parametrize(("size", "lang"), [("desktop", "en"), ("phone", "zh")])
async def test_an_agent_opens_a_linked_transcript_and_searches_past_conversations(
    server: TestServer, browser: Any, artifacts: Path, size: str, lang: str
) -> None:
    from playwright.async_api import expect

    site = site_of(server)
    cid, strangers = await _past_conversations(server.app[CONTEXT].store)
    words = TEXTS[lang]
    context = await browser.new_context(**(DESKTOP if size == "desktop" else PHONE))
    page = await context.new_page()

    # The dashboard's link: the transcript opens as soon as the agent has signed in.
    await page.goto(f"{site}/console#conversation={cid}")
    await page.get_by_test_id("login-username").fill("amy")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    dialog = page.get_by_test_id("history-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.get_by_test_id("history-title")).to_have_text(words["title"])
    msgs = dialog.get_by_test_id("history-msg")
    await expect(msgs).to_have_count(5)  # a system line is part of the transcript, read-only
    await expect(msgs.first).to_contain_text(words["customer"])
    await expect(msgs.first).to_contain_text("我的蓝牙耳机连不上了")
    await expect(dialog.get_by_test_id("history-link")).to_have_attribute(
        "href", "https://shop.example/broken.jpg"
    )
    await expect(page.get_by_test_id("history-close")).to_be_focused()
    await expect(page.get_by_test_id("history-close")).to_have_text(words["close"])
    assert await dialog.locator("textarea, input").count() == 0  # nothing to type into
    box = await dialog.bounding_box()
    assert (
        box is not None
        and box["x"] >= 0
        and box["x"] + box["width"] <= (1280 if size == "desktop" else 390)
    )
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    assert "#conversation=" not in page.url

    # Search, in Chinese and in English: one result each (not the stranger's chat).
    search = page.get_by_test_id("history-q")
    await expect(search).to_be_visible()
    for query, marked in (("蓝牙", "蓝牙"), ("REFUND", "refund")):
        await search.fill(query)
        await search.press("Enter")
        hits = page.get_by_test_id("history-hit")
        await expect(hits).to_have_count(1)
        await expect(hits.get_by_test_id("history-hit-name")).to_have_text("林伟")
        await expect(hits.locator("mark").first).to_have_text(marked)
        assert await hits.get_attribute("data-cid") == cid
    date = await hits.get_by_test_id("history-hit-date").inner_text()
    expected = await page.evaluate(
        "(iso) => new Date(iso).toLocaleString(document.documentElement.lang,"
        " {year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit'})",
        await hits.get_by_test_id("history-hit-date").get_attribute("datetime"),
    )
    assert date == expected
    await page.screenshot(path=str(artifacts / f"history-search-{size}-{lang}.png"))

    await hits.click()
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(".rdh-hit-msg mark")).to_have_text("refund")
    assert f"#conversation={cid}" in page.url
    await page.screenshot(path=str(artifacts / f"history-transcript-{size}-{lang}.png"))
    await page.get_by_test_id("history-close").click()
    await expect(dialog).to_be_hidden()
    await expect(search).to_be_focused()

    # The console's language switch reaches the search box at once.
    other = "zh" if lang == "en" else "en"
    await page.locator("#lang-select").select_option(other)
    await expect(page.get_by_test_id("history-submit")).to_have_text(
        "搜索" if other == "zh" else "Search"
    )
    await page.locator("#lang-select").select_option(lang)

    # A link to a conversation Amy may not read says so, in her language, and shows nothing.
    await page.goto(f"{site}/console#conversation={strangers}")
    await expect(page.get_by_test_id("history-title")).to_have_text(
        "You may not open this conversation." if lang == "en" else "您无权查看此会话。"
    )
    await expect(dialog.get_by_test_id("history-msg")).to_have_count(0)
    await context.close()
