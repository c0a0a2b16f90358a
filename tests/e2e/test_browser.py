"""The widget and the console in a real browser: Debian's Chromium driven by Playwright, against
the real server, store, models and knowledge base on a real port."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.config import Config
from bot.nlu.pipeline import NLUPipeline
from bot.server.app import create_app
from bot.server.runtime import RUNTIME
from tests.conftest import server_config

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="make test installs chromium")
PASSWORD = "amy's long password"
ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kb")


def _config(repo_config: Config, tmp: Path, kb: Path) -> Config:
    return server_config(repo_config, tmp, kb, always_open=True)


@pytest.fixture
async def site(
    aiohttp_server: ServerFactory,
    repo_config: Config,
    trained: NLUPipeline,
    tmp_path: Path,
    kb_dir: Path,
) -> AsyncIterator[str]:
    server = await aiohttp_server(
        create_app(_config(repo_config, tmp_path, kb_dir), trained, dialogue=True)
    )
    runtime = server.app[RUNTIME]
    assert runtime.store is not None and runtime.accounts is not None
    await runtime.store.add_agent(
        "amy",
        "Amy",
        role="agent",
        skills=["after_sales", "pre_sales", "tech_support"],
        languages=["zh", "en"],
        status="online",
    )
    await runtime.accounts.set_password("amy", PASSWORD)
    yield str(server.make_url("")).rstrip("/")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            await b.close()


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
    page = await browser.new_page(viewport={"width": 390, "height": 800}, locale="en-US")
    await page.goto(site)
    await page.get_by_test_id("rd-launcher").click()
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


async def test_failed_turns_queue_the_customer_and_an_agent_takes_over(
    site: str, browser: Any, artifacts: Path
) -> None:
    customer = await browser.new_page(viewport={"width": 390, "height": 800}, locale="en-US")
    await customer.goto(site)
    await customer.get_by_test_id("rd-launcher").click()
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
    await customer.get_by_test_id("rd-launcher").click()
    await customer.get_by_test_id("rd-msg").nth(before - 1).wait_for()
    assert await customer.locator('[data-testid="rd-msg"][data-sender="agent"]').count() == 2
