"""The administered settings as this instance currently holds them, kept fresh.

Routing decides inside a bot turn and must not wait on the database for every decision, so it
reads an in-memory snapshot (bot/store/admin_settings.py's `AdminSnapshot`). The snapshot is
reloaded when the settings version in the database moves: at once on the instance that made the
change (`refresh` after the write), and within `every` seconds on every other instance, which
polls that one integer. That is what lets a change in the console take effect without a
restart, everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from bot.config import SkillGroup
from bot.errors import StoreUnavailableError
from bot.store.admin_settings import AdminSnapshot, SqlAdminSettings

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0


class LiveSettings:
    """The current snapshot, and the task that keeps it current."""

    def __init__(self, settings: SqlAdminSettings, snapshot: AdminSnapshot) -> None:
        self.settings = settings
        self.snapshot = snapshot
        self.groups: Mapping[str, SkillGroup] = _Groups(self)
        self.canned: Mapping[str, Any] = _Canned(self)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        settings: SqlAdminSettings,
        groups: Mapping[str, SkillGroup],
        canned: Mapping[str, list[dict[str, str]]],
    ) -> LiveSettings:
        """Seed an empty database from config.yml's groups and canned.yml, then load."""
        if await settings.seed(groups, canned):
            log.info("administration seeded from config.yml and canned.yml")
        return cls(settings, await settings.snapshot())

    async def refresh(self) -> bool:
        """Reload if the database holds a newer version; True if it did."""
        async with self._lock:
            if await self.settings.version() == self.snapshot.version:
                return False
            self.snapshot = await self.settings.snapshot()
            return True

    def start(self, every: float = POLL_SECONDS) -> None:
        """Poll in the background until `stop`."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._poll(every), name="live-settings")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self, every: float) -> None:
        while not self._stopping:
            await asyncio.sleep(every)
            try:
                if await self.refresh():
                    log.info("administration settings now at version %d", self.snapshot.version)
            except StoreUnavailableError as exc:  # keep the last snapshot; try again later
                log.warning("could not read the administration settings: %s", exc)
            except Exception:  # a driver error must not end the polling for good
                if self._stopping:  # cancelled mid-query: the driver may raise its own error
                    return
                log.exception("reading the administration settings failed; retrying")


class _Groups(Mapping[str, SkillGroup]):
    """The skill groups of whatever snapshot is current when read."""

    def __init__(self, live: LiveSettings) -> None:
        self._live = live

    def __getitem__(self, name: str) -> SkillGroup:
        return self._live.snapshot.groups[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._live.snapshot.groups))

    def __len__(self) -> int:
        return len(self._live.snapshot.groups)


class _Canned(Mapping[str, Any]):
    """Canned responses per language, {"zh": [{"id", "title", "text"}], ...}, current."""

    def __init__(self, live: LiveSettings) -> None:
        self._live = live
        self._cache: tuple[int, dict[str, list[dict[str, Any]]]] = (-1, {})

    def _current(self) -> dict[str, list[dict[str, Any]]]:
        snap = self._live.snapshot
        if self._cache[0] != snap.version:
            self._cache = (snap.version, snap.canned_by_language())
        return self._cache[1]

    def __getitem__(self, language: str) -> Any:
        return self._current()[language]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())
