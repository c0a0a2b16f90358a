from tests.bot.store.conftest import store

__all__ = ["store"]
