"""Which skill group a conversation goes to, and whether that group is open right now.

The groups, their daily hours and the holidays are the administered ones (bot/store/
live_settings.py: seeded from config.yml, changed in the console), read from the instance's
current snapshot at each decision, so a change applies to the next handoff without a restart.
Without `live` (unit tests, scripts) the config's groups are used, with no holidays.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot import clock
from bot.config import HandoffSection
from bot.store.admin_settings import HolidayRecord
from bot.store.live_settings import LiveSettings

ALL_DAY = "00:00-24:00"
LOOK_AHEAD_DAYS = 366  # a group closed longer than this is treated as opening tomorrow


def _inside(hours: str, now: time) -> bool:
    start_s, end_s = hours.split("-")
    start = time.fromisoformat(start_s)
    if end_s == "24:00":
        return now >= start
    end = time.fromisoformat(end_s)
    return start <= now < end if start <= end else (now >= start or now < end)


class Router:
    def __init__(self, settings: HandoffSection, live: LiveSettings | None = None) -> None:
        self.base = settings
        self.live = live
        self.tz = ZoneInfo(settings.timezone)
        self._cache: tuple[int, HandoffSection, dict[tuple[str, str | None], HolidayRecord]]
        self._cache = (-1, settings, {})

    def _current(self) -> tuple[HandoffSection, dict[tuple[str, str | None], HolidayRecord]]:
        """The handoff settings with the administered groups, and the holidays by (day, group)
        (group None: every group); rebuilt once per settings version."""
        if self.live is None:
            return self.base, {}
        snap = self.live.snapshot
        if self._cache[0] != snap.version:
            settings = self.base.model_copy(update={"skill_groups": dict(snap.groups)})
            holidays = {(h.day, h.skill_group): h for h in snap.holidays}
            self._cache = (snap.version, settings, holidays)
        return self._cache[1], self._cache[2]

    @property
    def settings(self) -> HandoffSection:
        """config.yml's handoff section, with the skill groups as administered now."""
        return self._current()[0]

    def group_for(self, reason: str, intent: str | None, category: str | None) -> str:
        """Complaints go to the complaints group; otherwise the intent decides, then the
        knowledge category of the last answer, then the default group."""
        settings = self.settings
        groups = settings.skill_groups
        if reason == "complaint" and "complaints" in groups:
            return "complaints"
        for name, group in groups.items():
            if intent and intent in group.intents:
                return name
        if category:
            best = max(
                (
                    (name, p)
                    for name, g in groups.items()
                    for p in g.categories
                    if category.startswith(p)
                ),
                key=lambda pair: len(pair[1]),
                default=None,
            )
            if best:
                return best[0]
        return settings.default_group

    def hours_on(self, group: str, day: date) -> str | None:
        """The group's hours on a local date: a holiday's (None: closed all day; the group's
        own holiday before one for every group), else its daily hours."""
        settings, holidays = self._current()
        g = settings.skill_groups.get(group)
        if g is None:
            return ALL_DAY
        key = day.isoformat()
        holiday = holidays.get((key, group)) or holidays.get((key, None))
        if holiday is not None:
            return holiday.hours
        return g.hours

    def is_open(self, group: str, at: datetime | None = None) -> bool:
        local = (at or clock.now()).astimezone(self.tz)
        hours = self.hours_on(group, local.date())
        return hours is not None and _inside(hours, local.time())

    def next_open(self, group: str, at: datetime) -> datetime:
        """When the group is next open: `at` itself if open, else its next opening time
        (skipping holidays)."""
        if self.is_open(group, at):
            return at
        local = at.astimezone(self.tz)
        for offset in range(LOOK_AHEAD_DAYS + 1):
            day = local.date() + timedelta(days=offset)
            hours = self.hours_on(group, day)
            if hours is None:
                continue
            opening = datetime.combine(day, time.fromisoformat(hours.split("-")[0]), self.tz)
            if opening > local:
                return opening
        return local + timedelta(days=1)

    def speaks(self, group: str, language: str) -> bool:
        g = self.settings.skill_groups.get(group)
        return g is None or language in g.languages
