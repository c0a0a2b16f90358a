"""The analytics tests read from the store's real back ends."""

from tests.bot.store.conftest import store

__all__ = ["store"]
