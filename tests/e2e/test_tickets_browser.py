"""A ticket's whole life in a real browser (Debian's Chromium, Playwright), on the real server:
the bot opens it when nobody is online, an agent claims it on the tickets page, sends a
progress update that the customer reads in the widget, resolves it, and the customer answers
the after-sales follow-up from the link the widget shows; the answers are on the ticket."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from bot.server.context import CONTEXT
from tests.apps import PASSWORD
from tests.e2e.conftest import site_of


async def _open_widget(browser: Any, site: str) -> Any:
    page = await browser.new_page(viewport={"width": 390, "height": 800}, locale="en-US")
    await page.goto(site)
    await page.get_by_test_id("rd-launcher").click()
    return page


async def _say(page: Any, text: str) -> None:
    box = page.get_by_test_id("rd-input")
    await box.fill(text)
    await box.press("Enter")


async def test_a_ticket_from_creation_to_the_follow_up(
    server: TestServer, browser: Any, artifacts: Path
) -> None:
    site = site_of(server)
    store = server.app[CONTEXT].store
    await store.agents.update("amy", status="offline")  # nobody online: the bot opens a ticket

    # The customer asks for a person and gets a ticket number.
    customer = await _open_widget(browser, site)
    await _say(customer, "agent please")
    bot = customer.locator('[data-testid="rd-msg"][data-sender="bot"]')
    await bot.filter(has_text="opened ticket").first.wait_for()
    # The status banner comes in its own frame after the bot's message: wait for the number.
    from playwright.async_api import expect

    status = customer.get_by_test_id("rd-status")
    await expect(status).to_have_text(re.compile(r"T-\d+"))
    banner = await status.inner_text()
    found = re.search(r"T-\d+", banner)
    assert found is not None, banner
    number = found.group(0)
    ticket = await store.tickets.get(number)
    assert ticket.skill_group == "after_sales" and ticket.status == "new"

    # Amy signs in and finds it in her queue on the tickets page.
    agent = await browser.new_page(viewport={"width": 1400, "height": 900}, locale="en-US")
    await agent.goto(f"{site}/console")
    await agent.get_by_test_id("login-username").fill("amy")
    await agent.get_by_test_id("login-password").fill(PASSWORD)
    await agent.get_by_test_id("login-submit").click()
    await agent.get_by_test_id("me-name").filter(has_text="Amy").wait_for()
    await agent.get_by_test_id("tickets-link").click()
    await agent.wait_for_url(re.compile(r"/console/tickets$"))
    item = agent.locator(f'[data-testid="ticket-item"][data-number="{number}"]')
    await item.wait_for()
    await item.click()
    await agent.get_by_test_id("d-number").filter(has_text=number).wait_for()
    first_clock = agent.get_by_test_id("clock-first")
    assert "due in" in await first_clock.inner_text()

    # Claim: held by Amy, out of the queue, in "My tickets".
    await agent.get_by_test_id("claim").click()
    await agent.get_by_test_id("d-holder").filter(has_text="Amy").wait_for()
    await item.wait_for(state="detached")
    await agent.get_by_test_id("tab-mine").click()
    await item.wait_for()

    # A private note, then a progress update the customer reads in the widget.
    await agent.get_by_test_id("note-text").fill("Warehouse says Friday; do not promise earlier")
    await agent.get_by_test_id("note-save").click()
    history = agent.get_by_test_id("d-history")
    await history.locator('[data-kind="note"]').wait_for()
    await agent.get_by_test_id("update-text").fill("Your replacement ships on Friday.")
    await agent.get_by_test_id("update-send").click()
    await history.locator('[data-kind="update"]').wait_for()
    await agent.locator("#clock-first.met").wait_for()  # answered within the first-response SLA
    agent_msg = customer.locator('[data-testid="rd-msg"][data-sender="agent"]')
    update = agent_msg.filter(has_text="Your replacement ships on Friday.")
    await update.wait_for()
    assert number in await update.inner_text()
    assert await customer.get_by_text("Warehouse says Friday").count() == 0  # the note stays in
    await customer.screenshot(path=str(artifacts / "widget-ticket-update.png"))
    # What the customer answers is on the ticket page, beside the ticket's history.
    await _say(customer, "Friday is fine, thanks")
    stored = customer.locator('[data-testid="rd-msg"][data-sender="customer"]:not(.pending)')
    await stored.filter(has_text="Friday is fine").wait_for()  # acknowledged: it is stored
    await agent.locator(f'[data-testid="ticket-item"][data-number="{number}"]').click()
    said = agent.get_by_test_id("d-conv").locator('[data-sender="customer"]')
    await said.filter(has_text="Friday is fine, thanks").wait_for()

    # Resolved: the customer is told, and the after-sales follow-up arrives with its link.
    status = agent.get_by_test_id("d-status")
    assert await status.get_attribute("data-status") == "in_progress"
    await agent.get_by_test_id("status-select").select_option("resolved")
    await agent.get_by_test_id("move").click()
    await agent.locator('[data-testid="d-status"][data-status="resolved"]').wait_for()
    await agent_msg.filter(has_text="has been resolved").wait_for()
    follow_up = bot.filter(has_text="Fast enough?").last
    await follow_up.wait_for()
    link = follow_up.locator("a")
    href = await link.get_attribute("href")
    assert href is not None and "/tickets/follow-up/" in href
    await agent.screenshot(path=str(artifacts / "tickets-resolved.png"))

    # The customer answers from the link (a new tab, as the widget opens it).
    async with customer.context.expect_page() as opened:
        await link.click()
    form = await opened.value
    await form.get_by_test_id("fu-title").filter(has_text=number).wait_for()
    await form.get_by_test_id("solved-yes").check()
    await form.get_by_test_id("fast-no").check()
    await form.get_by_test_id("fu-suggestions").fill("Ship replacements from the nearer warehouse")
    await form.get_by_test_id("fu-submit").click()
    await form.get_by_test_id("fu-done").filter(has_text="Thank you").wait_for()
    await form.screenshot(path=str(artifacts / "ticket-follow-up.png"))
    await form.reload()  # answered once
    await form.get_by_test_id("fu-done").filter(has_text="answered already").wait_for()

    # The agent sees the answers on the ticket.
    await agent.get_by_test_id("tab-mine").click()
    await agent.locator(f'[data-testid="ticket-item"][data-number="{number}"]').click()
    answers = agent.get_by_test_id("d-followup")
    await answers.filter(has_text="Solved: yes").wait_for()
    assert "Fast enough: no" in await answers.inner_text()
    assert "nearer warehouse" in await answers.inner_text()
    await agent.screenshot(path=str(artifacts / "tickets-follow-up-answered.png"))

    # On the supervisors' dashboard: the period's ticket, no breach, the follow-up answered.
    await store.agents.update("amy", role="supervisor")
    await agent.goto(f"{site}/console/dashboard")
    panel = agent.get_by_test_id("tickets-sla")
    await panel.wait_for()
    tickets = panel.locator('[data-testid="tickets-card"][data-metric="tickets"]')
    assert "1" in await tickets.inner_text()
    breaches = panel.locator('[data-metric="first_response_breaches"]')
    assert "card-bad" not in (await breaches.get_attribute("class") or "")
    followed = panel.get_by_test_id("tickets-followups")
    assert "1 answered" in await followed.inner_text()
    assert "solved 100%" in await followed.inner_text()
