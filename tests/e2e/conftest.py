"""The browser tests need Debian's Chromium (`make test` installs it): without it they skip, or
fail under CI=true, saying so. Their shared fixtures: the real app on a real port with Amy (an
agent with a console password) in its store, the site's address, and the browser."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.config import Config
from bot.nlu.pipeline import NLUPipeline
from bot.server.app import create_app
from bot.server.context import CONTEXT
from tests.apps import PASSWORD, RawEdit, edit_config
from tests.conftest import server_config
from tests.prereqs import missing

CHROMIUM = Path("/usr/bin/chromium")
ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if not CHROMIUM.exists():
        missing(f"no {CHROMIUM}: `make browser` installs it")


@pytest.fixture
def make_server(
    aiohttp_server: ServerFactory,
    repo_config: Config,
    trained: NLUPipeline,
    tmp_path: Path,
    kb_dir: Path,
) -> ServerFactory:
    """Starts the real app on a real port (the browser must reach it), every skill group open,
    `edit` applied to the config; with `amy`, Amy, an online agent of three skill groups in
    both languages whose console password is PASSWORD."""

    async def make(*, edit: RawEdit | None = None, amy: bool = True) -> TestServer:
        config = server_config(repo_config, tmp_path, kb_dir, always_open=True)
        if edit is not None:
            config = edit_config(config, edit)
        server = await aiohttp_server(create_app(config, trained, dialogue=True))
        if amy:
            context = server.app[CONTEXT]
            await context.store.agents.add(
                "amy",
                "Amy",
                role="agent",
                skills=["after_sales", "pre_sales", "tech_support"],
                languages=["zh", "en"],
                status="online",
            )
            await context.accounts.set_password("amy", PASSWORD)
        return server

    return make


@pytest.fixture
async def server(make_server: ServerFactory) -> TestServer:
    return await make_server()


def site_of(server: TestServer) -> str:
    """The server's base URL, without the trailing slash."""
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def site(server: TestServer) -> str:
    return site_of(server)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, through Playwright."""
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
