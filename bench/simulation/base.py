"""The simulation's machinery: a discrete-event scheduler over a simulated clock, the agents'
roster and shifts, the customers' arrivals, and a stand-in for the outbox worker. What a
customer does on a visit is in visits.py."""

from __future__ import annotations

import heapq
import random
import string
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import clock
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.escalation import Routing
from bot.store.deliveries import Deliveries
from bot.store.sql_store import SqlStore
from bot.store.tables import PUSHED_CHANNELS
from handoff.service import HandoffService

from .lines import Lines, Question
from .settings import (
    CHANNEL_WEIGHTS,
    CHANNELS,
    FESTIVALS,
    HOUR_WEIGHTS,
    LANGUAGES,
    OUTBOX_TICK_S,
    ROSTER,
    SCENARIOS,
    WEEKDAY_WEIGHTS,
    SimulationSettings,
    SimulationSummary,
)

Step = AsyncIterator[float]  # a process: yields the seconds until its next step


@dataclass
class Agent:
    username: str
    display_name: str
    languages: tuple[str, ...]
    shift: tuple[float, float]  # local hours
    role: str
    skills: list[str]


@dataclass
class Visit:
    number: int
    channel: str
    sender: str
    language: str
    scenario: str
    rng: random.Random
    topic: Question | None = None
    order_id: str | None = None
    ticket: str | None = None
    returning: bool = False
    conversation_id: str | None = None
    waited_s: float = 0.0
    transferred: bool = False
    reason: str | None = None
    claimed_by: str | None = None
    customer_id: str | None = None  # known once they have written (or lingered on the site)
    order: str | None = None  # the order the shop's events about them are for (shop.py)


class SimulationBase:
    """The clock, the schedule and the staff; subclassed by visits.Simulation."""

    def __init__(
        self,
        settings: SimulationSettings,
        engine: DialogueEngine,
        service: HandoffService,
        lines: Lines,
        sim_clock: clock.SimulatedClock,
        summary: SimulationSummary,
        orders: list[str],
        end: datetime,
        *,
        sender_prefix: str = "",
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.store: SqlStore = engine.store
        self.service = service
        self.lines = lines
        self.clock = sim_clock
        self.summary = summary
        self.orders = orders or ["202611180042"]
        self.end = end  # no new visits from then on
        self.router: Routing = engine.router
        self.tz = self.router.tz
        self.rng = random.Random(settings.seed)
        self.prefix = sender_prefix
        self.deliveries = Deliveries(self.store.db)
        self.groups = sorted(self.router.settings.skill_groups) or [
            self.router.settings.default_group
        ]
        self.agents: list[Agent] = []
        self.waiting: Counter[str] = Counter()  # queued handoffs per skill group
        self._heap: list[tuple[datetime, int, Step]] = []
        self._n = 0
        self._senders: set[tuple[str, str]] = set()
        self._outbox: set[str] = set()  # pushed channels with messages to deliver
        self._outbox_running = False

    # -- scheduling ---------------------------------------------------------------------------
    def spawn(self, at: datetime, process: Step) -> None:
        self._n += 1
        heapq.heappush(self._heap, (at, self._n, process))

    async def run(self) -> None:
        while self._heap:
            at, n, process = heapq.heappop(self._heap)
            if at > self.clock.now():
                self.clock.set(at)
            try:
                delay = await anext(process)
            except StopAsyncIteration:
                continue
            heapq.heappush(self._heap, (self.clock.now() + timedelta(seconds=delay), n, process))

    def _pushed(self, channel: str) -> None:
        """A message for a pushed channel (Telegram, WeChat) was stored: the outbox sends it."""
        if channel not in PUSHED_CHANNELS:
            return
        self._outbox.add(channel)
        if not self._outbox_running:
            self._outbox_running = True
            self.spawn(self.clock.now() + timedelta(seconds=OUTBOX_TICK_S), self._outbox_worker())

    async def _outbox_worker(self) -> Step:
        """Stand-in for the outbox worker (connectors/outbox.py): every tick while there is
        something to send, each due message goes out through the delivery ledger."""
        while self._outbox:
            channels, self._outbox = sorted(self._outbox), set()
            for channel in channels:
                await self.deliver(channel)
            yield OUTBOX_TICK_S
        self._outbox_running = False

    async def deliver(self, channel: str) -> int:
        sent = 0
        while due := await self.deliveries.claim_due(channel, limit=500):
            for d in due:
                ref = f"{channel}-{d.message.id}"
                await self.deliveries.sent(d.message.id, via="api", ref=ref)
            sent += len(due)
        return sent

    # -- set-up -------------------------------------------------------------------------------
    def _hours(self) -> tuple[float, float]:
        """The span the skill groups are open, in local hours (the agents' working day)."""
        starts, ends = [], []
        for g in self.router.settings.skill_groups.values():
            a, b = g.hours.split("-")
            starts.append(int(a[:2]) + int(a[3:]) / 60)
            ends.append(int(b[:2]) + int(b[3:]) / 60)
        if not starts:
            return 0.0, 24.0
        start, end = min(starts), max(ends)
        return (start, end) if end > start else (0.0, 24.0)

    async def add_agents(self) -> None:
        open_h, close_h = self._hours()
        half = (close_h - open_h) / 2 + 2
        shifts = {
            "early": (open_h, min(close_h, open_h + half)),
            "late": (max(open_h, close_h - half), close_h),
            "middle": (open_h + 1, max(open_h + 2, close_h - 2)),
        }
        roster = [
            Agent(
                user,
                name,
                langs,
                shifts[shift],
                role,
                list(self.groups)
                if role == "supervisor"
                else [s for s in pref if s in self.groups],
            )
            for user, name, langs, shift, role, pref in ROSTER
        ]
        # Every skill group, in every language it serves, has someone on each shift.
        configured = self.router.settings.skill_groups
        for g in self.groups:
            for shift in ("early", "late"):
                for lang in configured[g].languages if g in configured else LANGUAGES:
                    crew = [a for a in roster if a.shift == shifts[shift] and a.role == "agent"]
                    if any(g in a.skills and lang in a.languages for a in crew):
                        continue
                    speakers = [a for a in crew if lang in a.languages] or crew
                    min(speakers, key=lambda a: len(a.skills)).skills.append(g)
        existing = {a.username for a in await self.store.agents.all()}
        for a in roster:
            fields: dict[str, Any] = {
                "role": a.role,
                "skills": a.skills,
                "languages": list(a.languages),
                "max_concurrent": 2 if a.role == "supervisor" else 3,
            }
            if a.username in existing:
                await self.store.agents.update(a.username, status="offline", **fields)
            else:
                await self.store.agents.add(
                    a.username,
                    a.display_name,
                    role=a.role,
                    skills=a.skills,
                    languages=list(a.languages),
                    max_concurrent=fields["max_concurrent"],
                )
        self.agents = roster

    def _local(self, day: datetime, hours: float) -> datetime:
        return (day + timedelta(hours=hours)).astimezone(self.tz)

    async def shift(self, agent: Agent, first_day: datetime, days: int) -> Step:
        """An agent's working days: online at the shift's start, offline at its end."""
        for d in range(days):
            day = datetime.combine(
                first_day.date() + timedelta(days=d), datetime.min.time(), self.tz
            )
            start, end = self._local(day, agent.shift[0]), self._local(day, agent.shift[1])
            if start > self.clock.now():
                yield (start - self.clock.now()).total_seconds()
            await self.store.agents.update(agent.username, status="online")
            yield max((end - self.clock.now()).total_seconds(), 0.0)
            await self.store.agents.update(agent.username, status="offline")

    def arrivals(self, start: datetime, days: int) -> list[datetime]:
        """When the new customers come: a weekly and daily rhythm, busier on festival days."""
        rng = self.rng
        day_weights = []
        for d in range(days):
            day = start.date() + timedelta(days=d)
            w = WEEKDAY_WEIGHTS[day.weekday()] * FESTIVALS.get((day.month, day.day), 1.0)
            day_weights.append(w)
        # Some customers come back (below): the ones whose last conversation was resolved start
        # a new one, so a few less new visits are drawn.
        new = max(1, round(self.settings.conversations / 1.02))
        picked = rng.choices(range(days), weights=day_weights, k=new)
        hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=new)
        out = []
        for d, h in zip(picked, hours, strict=True):
            day = datetime.combine(start.date() + timedelta(days=d), datetime.min.time(), self.tz)
            out.append(day + timedelta(hours=h, seconds=rng.uniform(0, 3600)))
        return sorted(out)

    def new_visit(self, number: int) -> Visit:
        rng = random.Random(self.rng.getrandbits(64))
        language = "zh" if rng.random() < 0.65 else "en"
        channel = rng.choices(CHANNELS, weights=CHANNEL_WEIGHTS[language])[0]
        scenario = rng.choices(list(SCENARIOS), weights=list(SCENARIOS.values()))[0]
        return Visit(number, channel, self._sender(rng, channel), language, scenario, rng)

    def _sender(self, rng: random.Random, channel: str) -> str:
        while True:
            if channel == "telegram":
                sender = str(rng.randint(100_000_000, 7_999_999_999))
            elif channel == "wechat":
                sender = "o" + "".join(rng.choices(string.ascii_letters + string.digits, k=27))
            elif channel == "web":
                sender = "v-" + "".join(rng.choices("0123456789abcdef", k=16))
            else:
                sender = f"app-{rng.randint(10_000, 9_999_999)}"
            sender = self.prefix + sender
            if (channel, sender) not in self._senders:
                self._senders.add((channel, sender))
                return sender
