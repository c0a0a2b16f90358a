"""Customer profiles in the console, in Debian's Chromium: the sample shop's customers and orders
imported and segmented, a high-value customer asking for a person shows her segments and tags in
the queue and the customer panel; the agent edits her profile and adds and removes a tag, and
the store has it, with the change recorded; in Chinese the segments read in Chinese."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from bot import clock
from bot.server.context import CONTEXT
from tests.apps import HOOK, PASSWORD
from tests.bot.store.test_customer_profiles import NOW, load_samples
from tests.e2e.conftest import site_of


async def test_an_agent_sees_segments_edits_the_profile_and_tags_the_customer(
    server: TestServer, browser: Any, artifacts: Path
) -> None:
    site = site_of(server)
    store = server.app[CONTEXT].store
    # The samples' dates moved so that their "today" (2026-12-01) is today.
    await load_samples(store, shift=clock.now() - NOW)
    summary = await store.profiles.recompute()
    assert summary.counts["value:high"] == 4 and summary.counts["lifecycle:churned"] == 4
    async with aiohttp.ClientSession() as http:
        resp = await http.post(site + HOOK, json={"sender": "sample-wang", "message": "转人工"})
        assert resp.headers["X-Relaydesk-Status"] == "queued", await resp.text()

    page = await browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
    await page.goto(f"{site}/console")
    await page.get_by_test_id("login-username").fill("amy")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()

    # The queue: her name, lifecycle, value band, the computed tag and her own tag.
    item = page.get_by_test_id("queue-item").filter(has_text="王芳")
    await item.wait_for()
    assert await item.get_by_test_id("queue-lifecycle").get_attribute("data-segment") == "active"
    assert await item.get_by_test_id("queue-lifecycle").inner_text() == "Active"
    assert await item.get_by_test_id("queue-value").inner_text() == "Value: high"
    assert await item.get_by_test_id("queue-auto-tag").inner_text() == "high-value"
    assert await item.get_by_test_id("queue-tag").inner_text() == "follows_new_products"

    # The customer panel: segments, profile, the shop's orders.
    await item.get_by_test_id("view").click()  # viewed, not claimed: she stays in the queue
    panel = page.get_by_test_id("customer")
    await panel.get_by_test_id("customer-name").filter(has_text="王芳").wait_for()
    segments = panel.get_by_test_id("customer-segments")
    await segments.get_by_test_id("customer-value").wait_for()
    assert await segments.locator("li").all_inner_texts() == ["Active", "Value: high", "high-value"]
    assert await panel.get_by_test_id("fact-email").inner_text() == "wang.fang@example.cn"
    assert await panel.get_by_test_id("fact-region").inner_text() == "上海"
    assert await panel.get_by_test_id("fact-ref").inner_text() == "C1001"
    assert "12,597.00" in await panel.get_by_test_id("fact-spend").inner_text()
    orders = panel.get_by_test_id("customer-order")
    await orders.nth(2).wait_for()  # the profile (orders) may land after the conversation's facts
    assert await orders.count() == 3
    assert "202611200317" in await orders.first.inner_text()
    assert "Kite X5 Pro 256 GB" in await orders.nth(1).inner_text()
    await page.screenshot(path=str(artifacts / "console-customer-profile.png"))

    # The agent edits the profile: a bad e-mail is refused with the server's words, then saved.
    await panel.get_by_test_id("profile-edit").click()
    assert await page.get_by_test_id("profile-name").input_value() == "王芳"  # filled in
    await page.get_by_test_id("profile-region").fill("杭州")
    await page.get_by_test_id("profile-email").fill("wang at example")
    await page.get_by_test_id("profile-save").click()
    notice = page.locator("#notice-text")
    await notice.filter(has_text="is not an e-mail address").wait_for()
    assert "wang at example" in await notice.inner_text()
    await page.get_by_test_id("profile-email").fill("fang.wang@example.cn")
    await page.get_by_test_id("profile-save").click()
    await panel.get_by_test_id("fact-region").filter(has_text="杭州").wait_for()
    assert await page.locator("#profile-form").is_hidden()
    assert await panel.get_by_test_id("fact-email").inner_text() == "fang.wang@example.cn"
    change = panel.get_by_test_id("customer-change").filter(has_text="amy · region")
    await change.wait_for()
    assert "amy · region: 上海 → 杭州" in await change.inner_text()

    # Tags: one added, one removed.
    await panel.get_by_test_id("tag-input").fill("VIP")
    await panel.get_by_test_id("tag-add").click()
    await panel.locator('[data-testid="customer-tag"][data-tag="vip"]').wait_for()
    old = panel.locator('[data-testid="customer-tag"][data-tag="follows_new_products"]')
    await old.get_by_test_id("tag-remove").click()
    await old.wait_for(state="detached")
    assert await panel.get_by_test_id("customer-tag").all_inner_texts() == ["vip×"]
    # The computed tag cannot be given by hand.
    await panel.get_by_test_id("tag-input").fill("high_value")
    await panel.get_by_test_id("tag-add").click()
    await page.locator("#notice-text").filter(has_text="computed from the data").wait_for()

    wang = await store.profiles.by_ref("C1001")
    assert (wang.region, wang.email, wang.tags) == ("杭州", "fang.wang@example.cn", ("vip",))
    fields = [(c.actor, c.field) for c in await store.profiles.changes(wang.id)]
    assert ("amy", "region") in fields and ("amy", "email") in fields and ("amy", "tags") in fields

    # In Chinese, the segments read in Chinese.
    await page.locator("#lang-select").select_option("zh")
    await segments.filter(has_text="活跃").wait_for()
    assert await segments.locator("li").all_inner_texts() == ["活跃", "价值：高", "高价值"]
    assert await item.get_by_test_id("queue-auto-tag").inner_text() == "高价值"
    await page.screenshot(path=str(artifacts / "console-customer-profile-zh.png"))

    # A supervisor sees how many customers are in each segment (the page reloads in English).
    await store.agents.update("amy", role="supervisor")
    await page.reload()
    counts = page.get_by_test_id("segment-counts")
    await counts.locator('[data-segment="lifecycle:active"]').filter(has_text="4").wait_for()
    assert await counts.locator('[data-segment="value:high"]').inner_text() == "Value: high · 4"
    assert await counts.locator('[data-segment="value:none"]').inner_text() == "No purchases · 2"
