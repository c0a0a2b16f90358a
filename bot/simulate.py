"""A lifelike month of customer service, produced by the real dialogue engine and handoff service.

`relaydesk simulate --month 2026-11` walks a simulated clock (bot/clock.py) through the month:
customers arrive with a daily and weekly rhythm, on every channel, in Chinese and English; each
sends a short script of realistic lines (the knowledge-base benchmark questions and the NLU
training examples, read at run time, plus some gibberish) through `DialogueEngine.handle`, so
parses, knowledge answers, failed turns, escalations, queue positions and tickets are whatever the
engine decides. A handful of agents work shifts: they claim queued conversations through
`HandoffService` after a realistic wait, reply, sometimes transfer or hand back to the bot, and
resolve; customers then rate, and some come back within a week about the same thing. Nothing is
written to the database except through the engine, the handoff service and the store's own API.

It is a discrete-event simulation: every customer visit (with its handoff) is one async generator
that yields the seconds until its next step; a scheduler runs the steps one at a time in simulated
time order. One step at a time keeps it deterministic: the same seed gives the same month.
"""

from __future__ import annotations

import heapq
import math
import random
import re
import sqlite3
import string
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import clock
from bot.config import Config, config_from_dict
from bot.dialogue.engine import DialogueEngine, TurnResult
from bot.dialogue.responses import Responses
from bot.errors import InputError, RelaydeskError
from bot.nlu import rasa_format
from bot.nlu.pipeline import NLUPipeline
from bot.server.runtime import Runtime, open_runtime
from bot.store import models as m
from bot.store.deliveries import Deliveries
from bot.store.sql_store import PUSHED_CHANNELS, SqlStore
from handoff.routing import Router
from handoff.service import HandoffError, HandoffService

P = ParamSpec("P")
T = TypeVar("T")
Step = AsyncIterator[float]  # a process: yields the seconds until its next step

LANGUAGES = ("zh", "en")
CHANNELS = ("web", "wechat", "telegram", "rest")
# Channel shares by language: Chinese customers mostly come through WeChat and the web widget,
# English ones through the widget and Telegram; "rest" is the shop's app, through the REST API.
CHANNEL_WEIGHTS = {"zh": (36, 48, 3, 13), "en": (50, 8, 27, 15)}
# Arrivals per local hour: quiet at night, busy mornings, a peak in the evening.
HOUR_WEIGHTS = (
    *(0.8, 0.4, 0.2, 0.1, 0.1, 0.2, 0.5, 1.2),  # 00-07
    *(2.2, 3.5, 4.5, 4.5, 3.8, 4.0, 4.5, 4.5),  # 08-15
    *(4.3, 4.0, 4.2, 5.5, 6.5, 6.0, 4.5, 2.2),  # 16-23
)
WEEKDAY_WEIGHTS = (1.1, 1.05, 1.05, 1.05, 1.1, 0.85, 0.8)  # Monday first
# Shopping festivals: Singles' Day (11-11) and 618.
FESTIVALS = {(11, 11): 2.0, (11, 12): 1.5, (6, 18): 1.8}
PEAK_HOURS = frozenset({10, 11, 19, 20})
SCENARIOS = {
    "question": 36,  # a knowledge question or two
    "order": 16,  # where is my order
    "human": 12,  # asks for a person
    "complaint": 8,
    "lost": 8,  # the bot does not understand them (three failed turns)
    "unanswerable": 7,  # a question no article answers
    "angry": 6,
    "smalltalk": 7,
}
THINK_S = (10.0, 90.0)  # a customer's pause between lines
OUTBOX_TICK_S = 3.0  # how often the stand-in outbox worker sends what is due
OVERTIME_H = 0.5  # after their shift agents still take what was queued before it ended
RETURN_DAYS = 7
# username, display name, languages, shift (early | late | middle), role, preferred skills
ROSTER: tuple[tuple[str, str, tuple[str, ...], str, str, tuple[str, ...]], ...] = (
    ("li.na", "李娜", ("zh",), "early", "agent", ("pre_sales", "after_sales")),
    ("zhang.min", "张敏", ("zh", "en"), "early", "agent", ("tech_support", "billing")),
    ("emily.zhou", "Emily Zhou", ("en", "zh"), "early", "agent", ("pre_sales", "complaints")),
    ("wang.lei", "王磊", ("zh",), "late", "agent", ("after_sales", "billing")),
    ("chen.jie", "陈杰", ("zh",), "late", "agent", ("complaints", "after_sales")),
    ("liu.yang", "刘洋", ("zh",), "late", "agent", ("pre_sales", "tech_support")),
    ("david.lin", "David Lin", ("en",), "late", "agent", ("billing", "tech_support")),
    ("zhao.qian", "赵倩", ("zh", "en"), "middle", "supervisor", ()),
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_ORDER_ID = re.compile(r"#?\b20\d{10}\b")
_TICKET = re.compile(r"\bT-?\d+\b", re.I)


# -- what customers say ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    text: str
    article: str | None
    language: str


Phrases = dict[str, dict[str, dict[str, list[str]]]]  # section -> kind -> language -> lines


def load_phrases() -> Phrases:
    """bot/dialogue/simulated_lines.yml: what the NLU data and the questions do not provide."""
    text = resources.files("bot.dialogue").joinpath("simulated_lines.yml").read_text("utf-8")
    phrases: Phrases = yaml.safe_load(text)
    return phrases


@dataclass
class Lines:
    """Customer lines per intent and language, the benchmark questions, and the phrases."""

    phrases: Phrases = field(default_factory=load_phrases)
    intents: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    questions: dict[str, list[Question]] = field(default_factory=dict)  # answerable
    unanswerable: dict[str, list[Question]] = field(default_factory=dict)
    by_article: dict[str, list[Question]] = field(default_factory=dict)

    def pick(self, rng: random.Random, intent: str, language: str) -> str:
        """A customer line of `intent`, from the NLU data."""
        pool = self.intents.get(intent, {}).get(language)
        return rng.choice(pool or self.phrases["fallback"][intent][language])

    def phrase(self, rng: random.Random, section: str, kind: str, language: str) -> str:
        return rng.choice(self.phrases[section][kind][language])

    def question(self, rng: random.Random, language: str, *, answerable: bool = True) -> Question:
        pool = (self.questions if answerable else self.unanswerable).get(language)
        if pool:
            return rng.choice(pool)
        kind = "question" if answerable else "out_of_scope"
        return Question(self.phrase(rng, "fallback", kind, language), None, language)


def _language_of(text: str, source: str = "") -> str:
    """The language a line belongs to: its data file's folder or name if it says, else whether
    it has Chinese characters."""
    path = Path(source.rsplit(":", 1)[0]) if source else None
    if path is not None:
        for part in (*path.parent.parts, path.stem):
            for lang in LANGUAGES:
                if part == lang or part.endswith(f"_{lang}") or part.startswith(f"{lang}_"):
                    return lang
    return "zh" if _CJK.search(text) else "en"


def load_lines(config: Config, questions: Path | None = None) -> Lines:
    """Read the customer lines at run time: the NLU training examples (config nlu.data) and the
    knowledge benchmark's questions (bench/data/kb_questions.yml, when present)."""
    lines = Lines()
    data = rasa_format.load(config.path(config.nlu.data))
    for ex in data.examples:
        lang = _language_of(ex.text, ex.source)
        lines.intents.setdefault(ex.intent, {}).setdefault(lang, []).append(ex.text)
    path = questions or Path(config.base_dir) / "bench" / "data" / "kb_questions.yml"
    if path.is_file():
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for q in raw.get("questions", []):
            text = str(q.get("question") or "").strip()
            if not text:
                continue
            lang = str(q.get("language") or _language_of(text))
            article = q.get("article")
            item = Question(text, str(article) if article else None, lang)
            target = lines.questions if item.article else lines.unanswerable
            target.setdefault(lang, []).append(item)
            if item.article:
                lines.by_article.setdefault(item.article, []).append(item)
    for lang in LANGUAGES:  # the NLU's question examples, when there is no benchmark file
        if not lines.questions.get(lang):
            lines.questions[lang] = [
                Question(t, None, lang)
                for i, per in lines.intents.items()
                if i.startswith("question_")
                for t in per.get(lang, [])
            ]
    return lines


# -- settings and results -------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulationSettings:
    month: str  # YYYY-MM
    conversations: int = 3000
    seed: int = 1
    days: int | None = None  # only the month's first N days (quick runs, tests)
    append: bool = False  # write into a database that has conversations already


@dataclass
class SimulationSummary:
    month: str
    database: str
    start: datetime
    end: datetime
    conversations: set[str] = field(default_factory=set)
    visits: int = 0
    returns: int = 0
    customer_turns: int = 0
    bot_replies: int = 0
    agent_messages: int = 0
    handoffs: int = 0  # escalations by the engine, plus transfers
    claimed: int = 0
    resolved: int = 0
    transferred: int = 0
    back_to_bot: int = 0
    tickets: int = 0
    ratings: int = 0
    rated_with_comment: int = 0
    rating_total: int = 0
    left_unresolved: int = 0  # bot-only visits that ended without a goodbye
    channels: Counter[str] = field(default_factory=Counter)  # per conversation
    languages: Counter[str] = field(default_factory=Counter)  # per conversation
    reasons: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        n = len(self.conversations)
        avg = self.rating_total / self.ratings if self.ratings else 0.0
        per_turn = 1000 * self.elapsed_s / max(self.customer_turns, 1)
        return [
            f"simulated {self.month}: {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} "
            f"({self.start.tzinfo}) into {self.database}",
            f"  conversations {n} from {self.visits} visits ({self.returns} came back), "
            f"customer turns {self.customer_turns}, bot replies {self.bot_replies}",
            "  channels: " + ", ".join(f"{c} {k}" for c, k in self.channels.most_common()),
            "  languages: " + ", ".join(f"{c} {k}" for c, k in self.languages.most_common()),
            f"  handoffs {self.handoffs} ("
            + ", ".join(f"{r} {k}" for r, k in self.reasons.most_common())
            + f"); claimed {self.claimed}, resolved {self.resolved}, transferred "
            f"{self.transferred}, back to bot {self.back_to_bot}; tickets {self.tickets}",
            f"  agent messages {self.agent_messages}; ratings {self.ratings} "
            f"({self.rated_with_comment} with a comment, average {avg:.2f}); "
            f"bot-only visits left unresolved {self.left_unresolved}",
            f"  elapsed {self.elapsed_s:.1f} s ({per_turn:.1f} ms per customer turn)",
        ]


def month_window(month: str, tz: ZoneInfo, days: int | None = None) -> tuple[datetime, int]:
    """The month's first local midnight and how many days to simulate."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InputError(f"month {month!r}: expected YYYY-MM, e.g. 2026-11")
    year, mon = int(match.group(1)), int(match.group(2))
    following = date(year + mon // 12, mon % 12 + 1, 1)
    length = (following - date(year, mon, 1)).days
    if days is not None and not 1 <= days <= length:
        raise InputError(f"days: 1 to {length} for {month}")
    return datetime(year, mon, 1, tzinfo=tz), days or length


def default_database(month: str) -> str:
    return f"sqlite:///var/simulated-{month}.db"


# -- the simulation -------------------------------------------------------------------------------
class _LatencyExecutor(ThreadPoolExecutor):
    """The engine's one parse worker; each job moves the simulated clock on by the bot's
    thinking time, so its replies come a moment after the customer's message."""

    def __init__(self, latency: Callable[[], object]) -> None:
        super().__init__(1, thread_name_prefix="relaydesk-simulate")
        self._latency = latency

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        self._latency()
        return super().submit(fn, *args, **kwargs)


@dataclass
class _Agent:
    username: str
    display_name: str
    languages: tuple[str, ...]
    shift: tuple[float, float]  # local hours
    role: str
    skills: list[str]


@dataclass
class _Visit:
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


class Simulation:
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
        self.router: Router = engine.router
        self.tz = self.router.tz
        self.rng = random.Random(settings.seed)
        self.prefix = sender_prefix
        self.deliveries = Deliveries(self.store.db)
        self.groups = sorted(self.router.settings.skill_groups) or [
            self.router.settings.default_group
        ]
        self.agents: list[_Agent] = []
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
            _Agent(
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
        existing = {a.username for a in await self.store.agents()}
        for a in roster:
            fields: dict[str, Any] = {
                "role": a.role,
                "skills": a.skills,
                "languages": list(a.languages),
                "max_concurrent": 2 if a.role == "supervisor" else 3,
            }
            if a.username in existing:
                await self.store.update_agent(a.username, status="offline", **fields)
            else:
                await self.store.add_agent(
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

    async def shift(self, agent: _Agent, first_day: datetime, days: int) -> Step:
        """An agent's working days: online at the shift's start, offline at its end."""
        for d in range(days):
            day = datetime.combine(
                first_day.date() + timedelta(days=d), datetime.min.time(), self.tz
            )
            start, end = self._local(day, agent.shift[0]), self._local(day, agent.shift[1])
            if start > self.clock.now():
                yield (start - self.clock.now()).total_seconds()
            await self.store.update_agent(agent.username, status="online")
            yield max((end - self.clock.now()).total_seconds(), 0.0)
            await self.store.update_agent(agent.username, status="offline")

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

    def new_visit(self, number: int) -> _Visit:
        rng = random.Random(self.rng.getrandbits(64))
        language = "zh" if rng.random() < 0.65 else "en"
        channel = rng.choices(CHANNELS, weights=CHANNEL_WEIGHTS[language])[0]
        scenario = rng.choices(list(SCENARIOS), weights=list(SCENARIOS.values()))[0]
        return _Visit(number, channel, self._sender(rng, channel), language, scenario, rng)

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

    # -- a customer's visit -------------------------------------------------------------------
    async def _say(self, v: _Visit, text: str) -> TurnResult:
        result = await self.engine.handle(v.channel, v.sender, text)
        s = self.summary
        s.customer_turns += 1
        s.bot_replies += len(result.replies)
        if result.conversation_id not in s.conversations and result.intent != "rate":
            s.conversations.add(result.conversation_id)
            s.channels[v.channel] += 1
            s.languages[v.language] += 1
        v.conversation_id = result.conversation_id
        if result.handoff is not None:
            s.handoffs += 1
            s.reasons[result.handoff.reason] += 1
            v.reason = result.handoff.reason
            if result.handoff.ticket:
                s.tickets += 1
                v.ticket = result.handoff.ticket
        self._pushed(v.channel)
        return result

    def _think(self, v: _Visit) -> float:
        return v.rng.triangular(THINK_S[0], THINK_S[1], 25.0)

    def _script(self, v: _Visit) -> list[str]:
        """What the customer will say to the bot, unless the bot hands them over first."""
        rng, lang, lines = v.rng, v.language, self.lines
        out: list[str] = []
        greets = 0.45 if lang == "zh" else 0.25
        if not v.returning and rng.random() < greets:
            out.append(lines.pick(rng, "greet", lang))
        if v.returning:
            out += self._return_lines(v)
        elif v.scenario in ("question", "human"):
            v.topic = lines.question(rng, lang)
            out.append(v.topic.text)
            if rng.random() < 0.3:
                out.append(lines.question(rng, lang).text)
            if v.scenario == "human":
                if rng.random() < 0.4:
                    out.append(lines.pick(rng, "deny", lang))
                out.append(lines.pick(rng, "request_human", lang))
        elif v.scenario == "order":
            text = lines.pick(rng, "order_status", lang)
            found = _ORDER_ID.search(text)
            if found and rng.random() < 0.6:  # most customers quote a real order of theirs
                v.order_id = rng.choice(self.orders)
                text = text.replace(found.group(0), v.order_id)
            out.append(text)
            if not found:
                good = rng.random() < 0.8
                v.order_id = (
                    rng.choice(self.orders) if good else f"2026{rng.randint(10**7, 10**8 - 1)}"
                )
                line = lines.phrase(rng, "customer", "order_number", lang)
                out.append(line.format(order=v.order_id))
        elif v.scenario == "complaint":
            out.append(lines.pick(rng, "complaint", lang))
        elif v.scenario == "lost":
            for _ in range(3):
                pool = rng.random()
                if pool < 0.45:
                    out.append(lines.phrase(rng, "customer", "gibberish", lang))
                elif pool < 0.8:
                    out.append(lines.pick(rng, "out_of_scope", lang))
                else:
                    out.append(lines.question(rng, lang, answerable=False).text)
        elif v.scenario == "unanswerable":
            v.topic = lines.question(rng, lang, answerable=False)
            out.append(v.topic.text)
            if rng.random() < 0.5:
                out.append(lines.question(rng, lang, answerable=False).text)
            if rng.random() < 0.35:
                out.append(lines.pick(rng, "request_human", lang))
        elif v.scenario == "angry":
            for _ in range(3):
                if rng.random() < 0.75:
                    out.append(lines.phrase(rng, "customer", "angry", lang))
                else:
                    out.append(lines.pick(rng, "feedback_negative", lang))
        else:  # small talk
            out.append(lines.pick(rng, "bot_challenge", lang))
            if rng.random() < 0.5:
                out.append(lines.question(rng, lang).text)
        return out

    def _return_lines(self, v: _Visit) -> list[str]:
        rng, lang = v.rng, v.language
        opener = self.lines.phrase(rng, "customer", "return_opener", lang)
        out: list[str] = []
        if v.ticket and rng.random() < 0.6:
            text = self.lines.pick(rng, "ticket_status", lang)
            found = _TICKET.search(text)
            if found:
                out.append(text.replace(found.group(0), v.ticket))
            else:
                out.append(f"{text} {v.ticket}")
        elif v.order_id:
            out.append(opener + self.lines.pick(rng, "order_status", lang) + f" {v.order_id}")
        elif v.topic is not None:
            same = self.lines.by_article.get(v.topic.article or "") or [v.topic]
            out.append(opener + rng.choice(same).text)
        else:
            out.append(opener + self.lines.question(rng, lang).text)
        if rng.random() < 0.4:
            out.append(self.lines.phrase(rng, "customer", "return_escalate", lang))
        return out

    async def visit(self, v: _Visit) -> Step:
        """One customer visit: the bot first; an agent if the conversation is handed over."""
        self.summary.visits += 1
        self.summary.returns += v.returning
        rng = v.rng
        handed = None
        for i, text in enumerate(self._script(v)):
            if i:
                yield self._think(v)
            result = await self._say(v, text)
            if result.status in ("queued", "assigned") or result.handoff is not None:
                handed = result
                break
            if i == 0 and v.scenario == "question" and rng.random() < 0.15:
                break  # read the answer and left
        if handed is None:
            said_bye = rng.random() < 0.55
            if said_bye:
                yield self._think(v)
                for intent in ("thank", "goodbye") if rng.random() < 0.4 else ("thank",):
                    await self._say(v, self.lines.pick(rng, intent, v.language))
            else:
                self.summary.left_unresolved += 1
            self._maybe_return(v, 0.14 if said_bye else 0.2)
            return
        assert handed.handoff is not None
        async for delay in self._handed_over(v, handed):
            yield delay

    async def _handed_over(self, v: _Visit, result: TurnResult) -> Step:
        """The queue, an agent, the resolution and the rating."""
        assert result.handoff is not None and v.conversation_id is not None
        rng, lang, conv = v.rng, v.language, v.conversation_id
        group = result.handoff.skill_group
        away = result.handoff.ticket is not None  # no agent now: a ticket, and they leave
        if away and rng.random() < 0.5:
            yield self._think(v)
            await self._say(v, self.lines.pick(rng, "affirm", lang))
        v.claimed_by = result.handoff.assigned_to  # auto-assigned
        queued_at = self.clock.now()
        while True:
            if v.claimed_by is None:
                self.waiting[group] += 1
                try:
                    async for delay in self._claim(v, group, away):
                        yield delay
                finally:
                    self.waiting[group] -= 1
                if v.claimed_by is None:
                    return  # nobody could take it: it stays in the queue
                self.summary.claimed += 1
            agent = next(a for a in self.agents if a.username == v.claimed_by)
            v.waited_s = max(v.waited_s, (self.clock.now() - queued_at).total_seconds())
            yield rng.uniform(3, 25)
            answers = self.lines.phrases["solutions"]
            solutions = answers.get(group, answers["other"])[lang]
            if away:  # the customer is gone: answer for when they look again
                await self._agent_says(v, agent, "follow_up", solution=rng.choice(solutions))
                break
            await self._agent_says(v, agent, "hello", name=agent.display_name)
            yield self._think(v)
            if v.topic is not None and rng.random() < 0.3:
                await self._say(v, v.topic.text)
            else:
                order = v.order_id or rng.choice(self.orders)
                detail = self.lines.phrase(rng, "customer", "detail", lang)
                await self._say(v, detail.format(order=order))
            for _ in range(rng.randint(1, 3)):
                yield rng.uniform(15, 120)
                if rng.random() < 0.35:
                    await self._agent_says(v, agent, "working")
                else:
                    await self._agent_text(v, agent, rng.choice(solutions))
                if rng.random() < 0.5:
                    yield self._think(v)
                    await self._say(v, self.lines.pick(rng, "affirm", lang))
            outcome = rng.random()
            if outcome < 0.07 and not v.transferred and len(self.groups) > 1:
                yield rng.uniform(10, 40)
                group = rng.choice([g for g in self.groups if g != group])
                await self.service.transfer(conv, group)
                s = self.summary
                s.transferred += 1
                s.handoffs += 1
                s.reasons["transfer"] += 1
                v.transferred, v.claimed_by, queued_at = True, None, self.clock.now()
                continue
            if outcome < 0.16:
                yield rng.uniform(10, 60)
                await self.service.return_to_bot(conv)
                self.summary.back_to_bot += 1
                if rng.random() < 0.6:
                    yield self._think(v)
                    await self._say(v, self.lines.pick(rng, "thank", lang))
                self._maybe_return(v, 0.15)
                return
            yield rng.uniform(20, 90)
            await self._agent_says(v, agent, "close")
            if rng.random() < 0.6:
                yield self._think(v)
                await self._say(v, self.lines.pick(rng, "thank", lang))
            break
        yield rng.uniform(5, 40)
        await self.service.resolve(conv)
        self.summary.resolved += 1
        if v.ticket:
            await self.store.set_ticket_status(
                v.ticket, "resolved", note="answered in the chat", actor=v.claimed_by
            )
        if rng.random() < (0.3 if away else 0.72):
            yield rng.uniform(3600, 6 * 3600) if away else rng.uniform(5, 120)
            await self._rate(v)
        self._maybe_return(v, 0.08)

    async def _claim(self, v: _Visit, group: str, away: bool) -> Step:
        """Wait to be noticed, then the first eligible agent with room claims the chat."""
        rng, conv = v.rng, v.conversation_id
        assert conv is not None
        hour = self.clock.now().astimezone(self.tz).hour
        wait = rng.lognormvariate(math.log(13), 0.75)
        if hour in PEAK_HOURS:
            wait *= rng.uniform(1.3, 2.2)
        wait += 10 * max(self.waiting[group] - 1, 0)
        nudged = away or rng.random() > 0.6
        for _ in range(400):
            now = self.clock.now()
            if group in self.router.settings.skill_groups and not self.router.is_open(group, now):
                opens = self.router.next_open(group, now)
                nudged = True  # they will not ask again the next morning
                yield (opens - now).total_seconds() + rng.uniform(60, 45 * 60)
                continue
            if wait > 0:
                if not nudged and wait > 50:
                    nudged = True
                    yield 40.0
                    wait -= 40
                    await self._say(v, self.lines.phrase(rng, "customer", "nudge", v.language))
                    continue
                yield wait
                wait = 0
            agents = {a.username: a for a in await self.store.agents()}
            loads = await self.store.agent_loads()
            lang = v.language
            ready = [
                a
                for a in agents.values()
                if self._on_duty(a.username, a.status)
                and group in a.skills
                and lang in a.languages
                and loads.get(a.id, 0) < a.max_concurrent
            ]
            rng.shuffle(ready)
            ready.sort(key=lambda a: (a.role == "supervisor", loads.get(a.id, 0)))
            for a in ready:
                try:
                    await self.service.claim(conv, a.username)
                except HandoffError:
                    continue
                v.claimed_by = a.username
                return
            yield rng.uniform(20, 60)

    def _on_duty(self, username: str, status: str) -> bool:
        """Online, or just off shift: agents clear the queue before they leave."""
        if status == "online":
            return True
        agent = next((a for a in self.agents if a.username == username), None)
        if agent is None:
            return False
        local = self.clock.now().astimezone(self.tz)
        hour = local.hour + local.minute / 60
        return agent.shift[1] <= hour < agent.shift[1] + OVERTIME_H

    async def _agent_says(self, v: _Visit, agent: _Agent, kind: str, **values: str) -> None:
        text = self.lines.phrase(v.rng, "agent", kind, v.language).format(**values)
        await self._agent_text(v, agent, text)

    async def _agent_text(self, v: _Visit, agent: _Agent, text: str) -> None:
        assert v.conversation_id is not None
        await self.service.send(v.conversation_id, agent.username, text)
        self.summary.agent_messages += 1
        self._pushed(v.channel)

    async def _rate(self, v: _Visit) -> None:
        rng, lang = v.rng, v.language
        score = 5.0
        if v.waited_s > 30:
            score -= rng.choice([0, 1])
        if v.waited_s > 180:
            score -= 1
        if v.reason in ("failed_turns", "negative_sentiment"):
            score -= rng.choice([0, 1, 1])
        if v.reason == "complaint":
            score -= rng.choice([0, 1, 2])
        if v.transferred:
            score -= rng.choice([0, 1])
        score += rng.choice([-1, 0, 0, 0, 0, 1])
        s = int(min(5, max(1, score)))
        comment = ""
        if rng.random() < 0.55:
            mood = "good" if s >= 4 else "fair" if s == 3 else "bad"
            comment_lang = lang if rng.random() < 0.9 else ("en" if lang == "zh" else "zh")
            comment = self.lines.phrase(rng, "comments", mood, comment_lang)
        style = rng.random()
        if not comment:
            text = f"/rate {s}"
        elif style < 0.4:
            text = f"/rate {s} {comment}"
        elif style < 0.7:
            text = f"{s}星 {comment}" if lang == "zh" else f"{s} stars, {comment}"
        else:
            text = f"{s} {comment}"
        result = await self._say(v, text)
        if result.intent == "rate":
            self.summary.ratings += 1
            self.summary.rating_total += s
            self.summary.rated_with_comment += bool(comment)

    def _maybe_return(self, v: _Visit, chance: float) -> None:
        """Some customers come back within the week about the same thing."""
        if v.rng.random() >= chance:
            return
        after = min(v.rng.expovariate(1 / (1.5 * 86400)), RETURN_DAYS * 86400) + 2 * 3600
        at = self.clock.now() + timedelta(seconds=after)
        if at >= self.end:
            return
        again = _Visit(
            v.number,
            v.channel,
            v.sender,
            v.language,
            v.scenario,
            random.Random(v.rng.getrandbits(64)),
            topic=v.topic,
            order_id=v.order_id,
            ticket=v.ticket,
            returning=True,
        )
        self.spawn(at, self.visit(again))


async def simulate(
    config: Config,
    nlu: NLUPipeline,
    settings: SimulationSettings,
    *,
    database: str | None = None,
    questions: Path | None = None,
) -> SimulationSummary:
    """Run the month against `database` (default: a new SQLite file var/simulated-MONTH.db)."""
    started = time.perf_counter()
    tz = ZoneInfo(config.handoff.timezone)
    start, days = month_window(settings.month, tz, settings.days)
    if settings.conversations < 1:
        raise InputError("conversations: at least 1")
    url = database or default_database(settings.month)
    raw = config.model_dump(exclude={"base_dir"})
    raw["pipeline"] = config.pipeline_spec()
    raw["storage"]["url"] = url
    sim_config = config_from_dict(raw, base_dir=config.base_dir)
    lines = load_lines(sim_config, questions)
    summary = SimulationSummary(settings.month, url, start, start + timedelta(days=days))
    sim_clock = clock.SimulatedClock(start - timedelta(days=1))
    latency = random.Random(settings.seed + 1)
    executor = _LatencyExecutor(lambda: sim_clock.advance(latency.uniform(0.2, 1.2)))
    runtime = Runtime()
    with clock.use_clock(sim_clock):
        try:
            await open_runtime(sim_config, nlu, runtime, executor)
            assert runtime.engine is not None and runtime.store is not None
            assert runtime.handoff is not None
            # The bot's and the agents' templates pick among variations: seeded, so the same
            # seed gives the same words.
            responses = Responses.load(
                Path(sim_config.path(sim_config.dialogue.responses)), seed=settings.seed
            )
            for holder in (runtime.engine, runtime.engine.announcer, runtime.handoff):
                holder.responses = responses
            runtime.handoff.announcer.responses = responses
            store = runtime.store
            existing = await store.db.run(_conversation_count)
            if existing and not settings.append:
                raise InputError(
                    f"{url} holds {existing} conversations already: give another --db, or "
                    "--append to add to them"
                )
            sim = Simulation(
                settings,
                runtime.engine,
                runtime.handoff,
                lines,
                sim_clock,
                summary,
                _order_ids(Path(sim_config.path(sim_config.dialogue.orders_db))),
                summary.end,
                sender_prefix=f"r{existing}-" if existing else "",
            )
            await sim.add_agents()
            for agent in sim.agents:
                sim.spawn(sim_clock.now(), sim.shift(agent, start, days + 1))
            for n, at in enumerate(sim.arrivals(start, days), 1):
                sim.spawn(at, sim.visit(sim.new_visit(n)))
            await sim.run()
            for channel in sorted(PUSHED_CHANNELS):  # what the queue announcer sent last
                await sim.deliver(channel)
        finally:
            if runtime.store is not None:
                await runtime.store.close()
            executor.shutdown(wait=True)
    summary.elapsed_s = time.perf_counter() - started
    return summary


def _conversation_count(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(m.Conversation)) or 0)


def _order_ids(path: Path) -> list[str]:
    """The shop's order numbers, for customers who quote theirs."""
    try:
        with closing(sqlite3.connect(path)) as db:
            return [str(r[0]) for r in db.execute("SELECT order_id FROM orders ORDER BY order_id")]
    except sqlite3.Error as exc:
        raise RelaydeskError(f"cannot read the orders in {path}: {exc}") from exc
