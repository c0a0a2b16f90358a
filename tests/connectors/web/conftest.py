"""The app for the widget's socket tests, with `connectors.web` settings of the test's choosing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.apps import AppFactory, Client


@pytest.fixture
def widget_client(make_client: AppFactory) -> Callable[..., Awaitable[Client]]:
    """The app with `connectors.web` settings changed (secret, origins, text limit)."""

    async def make(**web: Any) -> Client:
        def edit(raw: dict[str, Any]) -> None:
            raw["connectors"]["web"].update({"identity_secret": None, "allowed_origins": [], **web})

        return await make_client(edit=edit)

    return make


@pytest.fixture
async def client(widget_client: Callable[..., Awaitable[Client]]) -> Client:
    return await widget_client()
