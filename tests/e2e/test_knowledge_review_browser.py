"""Knowledge review in a real browser (Debian's Chromium through Playwright) against the real
server: an agent's draft from a conversation is submitted on the review page, sent back by a
supervisor with a reason, improved and submitted again; the supervisor reads the diff and
approves it, the article file is written and re-indexed, and a customer in the widget is
answered from the new text. The dashboard then counts who did what.

The server works on a private copy of the knowledge folder, index and history
(tests/kit/private_knowledge.py); the repository's knowledge/ folder is checked untouched."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.server.context import CONTEXT
from tests.apps import HOOK, PASSWORD
from tests.conftest import REPO
from tests.e2e.conftest import ServerFactory, site_of
from tests.kit.private_knowledge import private_knowledge, snapshot

QUESTION = "Can I change the engraving on my Kite Watch 3 after ordering?"
FIRST_ANSWER = "Engraving can be changed in Orders > Details."
REVIEWED = "Engraving can be changed within 2 hours of payment in Orders > Details > Engraving."
REASON = "请写明只有 Kite Watch 3 支持刻字，以及修改的时限。"
PUBLISH_TIMEOUT_MS = 300_000  # approval re-indexes and re-tunes: a minute on two busy cores


@pytest.fixture
def knowledge_and_edit(tmp_path: Path, kb_dir: Path) -> tuple[Path, Any]:
    return private_knowledge(tmp_path, kb_dir)


@pytest.fixture
async def server(make_server: ServerFactory, knowledge_and_edit: tuple[Path, Any]) -> TestServer:
    server = await make_server(edit=knowledge_and_edit[1])
    context = server.app[CONTEXT]
    await context.store.agents.add("sue", "Sue", role="supervisor", languages=["zh", "en"])
    await context.accounts.set_password("sue", PASSWORD)
    return server


async def _console_login(browser: Any, site: str, username: str) -> Any:
    page = await browser.new_page(viewport={"width": 1300, "height": 900}, locale="en-US")
    await page.goto(f"{site}/console")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("me-name").wait_for()
    return page


async def _ask(browser: Any, site: str, text: str) -> Any:
    """A new visitor opens the widget and asks `text`; the page, once the bot has replied."""
    page = await browser.new_page(viewport={"width": 390, "height": 800}, locale="en-US")
    await page.goto(site)
    await page.get_by_test_id("rd-launcher").click()
    box = page.get_by_test_id("rd-input")
    await box.fill(text)
    await box.press("Enter")
    await page.locator('[data-testid="rd-msg"][data-sender="bot"]').first.wait_for()
    await page.wait_for_timeout(500)  # a multi-part answer arrives in one turn
    return page


async def _bot_text(page: Any) -> str:
    texts = await page.locator('[data-testid="rd-msg"][data-sender="bot"]').all_inner_texts()
    return "\n".join(texts)


async def _save_draft_from_a_chat(server: TestServer, console: Any) -> str:
    """A customer asks for a person; the agent saves the resolution as a knowledge draft
    through the console's own route, with the page's session and CSRF token."""
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{site_of(server)}{HOOK}", json={"sender": "engraver", "message": "转人工"}
        )
        last = (await resp.json())[-1]
    cid = last["custom"]["conversation_id"]
    await server.app[CONTEXT].store.conversations.update(cid, language="en")
    result = await console.evaluate(
        """async ([cid, question, answer]) => {
            const me = await (await fetch('/api/console/me')).json();
            const res = await fetch(`/api/agent/conversations/${cid}/draft`, {
                method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf},
                body: JSON.stringify({question, answer, category: 'service/orders'}),
            });
            return [res.status, await res.json()];
        }""",
        [cid, QUESTION, FIRST_ANSWER],
    )
    assert result[0] == 201, result
    draft_id: str = result[1]["draft"]["id"]
    return draft_id


async def test_a_draft_is_reviewed_published_and_answers_customers(
    server: TestServer,
    browser: Any,
    knowledge_and_edit: tuple[Path, Any],
    artifacts: Path,
) -> None:
    repo_before = snapshot(REPO / "knowledge")
    knowledge = knowledge_and_edit[0]
    site = site_of(server)
    kb = server.app[CONTEXT].kb
    assert kb is not None

    # Amy saves a draft from a chat and opens it on the review page from the console's header.
    amy = await _console_login(browser, site, "amy")
    draft_id = await _save_draft_from_a_chat(server, amy)
    await amy.get_by_test_id("review-link").click()
    await amy.wait_for_url(re.compile(r"/console/review$"))
    entry = amy.locator(f'[data-testid="review-item"][data-id="{draft_id}"]')
    await entry.wait_for()
    assert await entry.get_attribute("data-status") == "draft"
    await entry.click()
    await amy.get_by_test_id("review-heading").filter(has_text="engraving").wait_for()
    assert FIRST_ANSWER in await amy.get_by_test_id("review-diff").inner_text()
    assert await amy.get_by_test_id("review-approve").is_hidden()  # agents do not decide

    # She submits it as it is.
    await amy.get_by_test_id("review-submit").click()
    await amy.get_by_test_id("review-message").filter(has_text="Submitted").wait_for()
    assert await entry.get_attribute("data-status") == "review"
    assert "status: review" in (knowledge / "en" / f"{draft_id}.md").read_text("utf-8")
    assert draft_id not in kb.index.articles

    # Sue, a supervisor, reads it in Chinese and sends it back with a reason.
    sue = await _console_login(browser, site, "sue")
    await sue.goto(f"{site}/console/review")
    await sue.locator("#lang-select").select_option("zh")
    await sue.get_by_role("heading", name="待审核").wait_for()
    await sue.locator(f'[data-testid="review-item"][data-id="{draft_id}"]').click()
    await sue.get_by_test_id("review-reject").click()  # no reason yet: the page asks for one
    await sue.get_by_test_id("review-message").filter(has_text="请写明原因").wait_for()
    await sue.get_by_test_id("review-reason").fill(REASON)
    await sue.get_by_test_id("review-reject").click()
    await sue.get_by_test_id("review-message").filter(has_text="已退回作者").wait_for()

    # Amy sees why, improves the answer, saves and submits again.
    await amy.reload()
    await entry.click()
    await amy.get_by_test_id("review-decision").filter(has_text=REASON).wait_for()
    await amy.get_by_test_id("review-body").fill(REVIEWED)
    await amy.get_by_test_id("review-save").click()
    await amy.get_by_test_id("review-message").filter(has_text="Saved").wait_for()
    await amy.get_by_test_id("review-submit").click()
    await amy.get_by_test_id("review-message").filter(has_text="Submitted").wait_for()

    # Sue reads the new diff and approves.
    await sue.reload()
    await sue.locator("#lang-select").select_option("zh")
    await sue.locator(f'[data-testid="review-item"][data-id="{draft_id}"]').click()
    diff = sue.get_by_test_id("review-diff")
    await diff.filter(has_text="within 2 hours").wait_for()
    assert await diff.locator("ins").filter(has_text=REVIEWED).count() == 1
    assert FIRST_ANSWER not in await diff.inner_text()
    await sue.screenshot(path=str(artifacts / "knowledge-review.png"))
    await sue.get_by_test_id("review-approve").click()
    await (
        sue.get_by_test_id("review-message")
        .filter(has_text="已发布为第 1 版")
        .wait_for(timeout=PUBLISH_TIMEOUT_MS)
    )
    assert await sue.locator(f'[data-testid="review-item"][data-id="{draft_id}"]').count() == 0

    # The file under knowledge/ is the published article; the index serves it.
    text = (knowledge / "en" / f"{draft_id}.md").read_text("utf-8")
    assert "status: published" in text and "version: 1" in text and REVIEWED in text
    assert kb.index.articles[draft_id].version == 1

    # A customer asking the question is answered from the new version.
    customer = await _ask(browser, site, QUESTION)
    await (
        customer.locator('[data-testid="rd-msg"][data-sender="bot"]')
        .filter(has_text="within 2 hours of payment")
        .first.wait_for()
    )
    assert FIRST_ANSWER not in await _bot_text(customer)
    await customer.screenshot(path=str(artifacts / "widget-new-knowledge.png"))

    # The dashboard counts Amy's contribution and publication, and Sue's review.
    await sue.locator("#lang-select").select_option("en")
    await sue.goto(f"{site}/console/dashboard")
    rows = sue.locator('[data-testid="kc-row"]')
    await rows.first.wait_for()
    table = [r.split("\t") for r in await rows.all_inner_texts()]
    by_agent = {cells[1]: cells[2:] for cells in table}
    assert by_agent == {"amy": ["1", "0", "1"], "sue": ["0", "2", "0"]}, table

    assert snapshot(REPO / "knowledge") == repo_before
