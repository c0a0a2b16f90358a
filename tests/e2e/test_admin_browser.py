"""Administration in a real browser (Debian's Chromium, Playwright) on the real server: an admin
opens the page from the console, adds an agent with skills and a password, and the new agent
logs in and sees the console; disabled, they are logged out; an agent who opens the page is
shown that it is for supervisors and admins, and the server refuses its API."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from bot.server.context import CONTEXT
from tests.apps import PASSWORD
from tests.e2e.conftest import site_of

NEW_PASSWORD = "li wei's first password"


async def _login(page: Any, site: str, username: str, password: str) -> None:
    await page.goto(f"{site}/console")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def test_an_admin_adds_an_agent_who_then_logs_in(
    server: TestServer, browser: Any, artifacts: Path
) -> None:
    site = site_of(server)
    context = server.app[CONTEXT]
    await context.store.agents.add("ada", "Ada", role="admin", languages=["zh", "en"])
    await context.accounts.set_password("ada", PASSWORD)

    # The admin signs in at the console and follows the header link.
    admin = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
    admin.on("dialog", lambda dialog: dialog.accept())
    await _login(admin, site, "ada", PASSWORD)
    await admin.get_by_test_id("me-name").filter(has_text="Ada").wait_for()
    await admin.get_by_test_id("admin-link").click()
    await admin.wait_for_url(f"{site}/console/admin")
    await admin.get_by_test_id("agents-table").locator("tr[data-username=amy]").wait_for()

    form = admin.get_by_test_id("agent-form")
    await form.get_by_test_id("agent-username").fill("li.wei")
    await form.get_by_test_id("agent-display-name").fill("李伟")
    await form.get_by_label("billing").check()
    await form.get_by_label("pre_sales").check()
    await form.get_by_test_id("agent-max").fill("4")
    await form.get_by_test_id("agent-password").fill(NEW_PASSWORD)
    await form.get_by_test_id("agent-save").click()
    await admin.get_by_test_id("admin-flash").filter(has_text="Added 李伟").wait_for()
    row = admin.locator("tr[data-username='li.wei']")
    await row.wait_for()
    assert "pre_sales, billing" in await row.inner_text()  # in the groups' routing order
    await admin.screenshot(path=str(artifacts / "admin-agents.png"), full_page=True)

    # The new agent signs in, in their own browser, and sees the console.
    li = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    await _login(li, site, "li.wei", NEW_PASSWORD)
    await li.get_by_test_id("me-name").filter(has_text="李伟").wait_for()
    stored = await context.store.agents.get("li.wei")
    assert (stored.skills, stored.max_concurrent, stored.role) == (
        ("pre_sales", "billing"),
        4,
        "agent",
    )
    # The page is not for them: told so, and the server refuses the API itself.
    await li.goto(f"{site}/console/admin")
    await li.get_by_test_id("admin-forbidden").wait_for()
    refused = await li.evaluate("async () => (await fetch('/api/admin/agents')).status")
    assert refused == 403

    # The admin disables them: their session ends and the console asks for a login again.
    await admin.get_by_test_id("toggle-li.wei").click()
    await admin.locator("tr[data-username='li.wei'].disabled").wait_for()
    await li.goto(f"{site}/console")
    await li.get_by_test_id("login-form").wait_for()

    # Billing's hours change, and a holiday closes every group: routing reads both at once.
    await admin.get_by_test_id("tab-groups").click()
    await admin.get_by_test_id("hours-billing").fill("08:00-22:00")
    billing = admin.locator("form[data-group=billing]")
    await billing.get_by_role("button", name="Save").click()
    await admin.get_by_test_id("admin-flash").filter(has_text="Saved group billing").wait_for()
    await admin.get_by_test_id("tab-holidays").click()
    holiday = admin.get_by_test_id("holiday-form")
    await holiday.locator("input[name=day]").fill("2027-02-06")
    await holiday.locator("input[name=name]").fill("春节")
    await holiday.get_by_role("button", name="Add").click()
    await admin.locator("#holidays-body tr", has_text="春节").wait_for()
    router = context.engine.router
    assert router.settings.skill_groups["billing"].hours == "08:00-22:00"
    assert not router.is_open("billing", datetime(2027, 2, 6, 12, 0, tzinfo=router.tz))
    assert router.is_open("billing", datetime(2027, 2, 7, 8, 30, tzinfo=router.tz))

    # The audit log names who did it.
    await admin.get_by_test_id("tab-audit").click()
    audit = admin.get_by_test_id("audit-table")
    await audit.locator("tr", has_text="agent.disable").wait_for()
    assert "ada" in await audit.locator("tr", has_text="agent.add").first.inner_text()
    assert "08:00-22:00" in await audit.locator("tr", has_text="group.update").inner_text()
    await li.close()
    await admin.close()
