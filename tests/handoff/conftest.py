"""The handoff tests run on the store's real back ends too."""

from tests.bot.store.conftest import store

__all__ = ["store"]
