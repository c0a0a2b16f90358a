"""Which skill group a conversation goes to, and whether that group is open right now."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot import clock
from bot.config import HandoffSection


class Router:
    def __init__(self, settings: HandoffSection) -> None:
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)

    def group_for(self, reason: str, intent: str | None, category: str | None) -> str:
        """Complaints go to the complaints group; otherwise the intent decides, then the
        knowledge category of the last answer, then the default group."""
        groups = self.settings.skill_groups
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
        return self.settings.default_group

    def is_open(self, group: str, at: datetime | None = None) -> bool:
        g = self.settings.skill_groups.get(group)
        if g is None:
            return True
        start_s, end_s = g.hours.split("-")
        now = (at or clock.now()).astimezone(self.tz).time()
        start = time.fromisoformat(start_s)
        if end_s == "24:00":
            return now >= start
        end = time.fromisoformat(end_s)
        return start <= now < end if start <= end else (now >= start or now < end)

    def next_open(self, group: str, at: datetime) -> datetime:
        """When the group is next open: `at` itself if open, else its next opening time."""
        if self.is_open(group, at):
            return at
        g = self.settings.skill_groups[group]
        local = at.astimezone(self.tz)
        start = time.fromisoformat(g.hours.split("-")[0])
        opening = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
        return opening if opening > local else opening + timedelta(days=1)

    def speaks(self, group: str, language: str) -> bool:
        g = self.settings.skill_groups.get(group)
        return g is None or language in g.languages
