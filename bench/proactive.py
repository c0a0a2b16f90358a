"""Proactive-contact benchmark: the decision (bot/proactive/decide.py) for 100,000 customers and
1,000,000 shop events, with the sample shop's rules (config.yml `proactive:`).

    .venv/bin/python bench/proactive.py [--customers 100000] [--events 1000000] [--days 30]
                                        [--seed N] [--no-trace]

The customers and the month of events are generated from a fixed seed: value bands (20% high,
40% mid, 30% low, 10% none), time zones (60% Shanghai, the rest across Asia, Europe and the
Americas, 5% unknown), languages, channels, tags, 3% opted out at the start; events of every
trigger type plus order_paid, a custom product_view and a few opt-outs, in time order, 60% of
them from a fifth of the customers (so caps and cool-downs bite).

Every event is taken as the scheduler takes it (bot/proactive/scheduler.py): the rules it
triggers are scheduled at occurred_at + delay; whenever the clock passes a due time, the row is
decided with the facts a real scheduler gathers (profile, opt-out, the sends inside the cap
window, the rule's last send, whether an `expires_if` event came since), and the outcome is
kept in memory as the ledger would keep it: a send counts against caps and cool-downs, a
`wait` (quiet hours) comes back at the end of the quiet hours.

Figures: decisions per second of `decide` alone and events per second of the whole loop; peak
the process's RSS (after the imports, with the data, peak of the timed run) and, from a second,
traced run of the same data and loop, tracemalloc's figures: the generated data, and the loop's
own state on top (the in-memory ledger, event history and due rows); the decision mix. Ends with
one JSON line.
"""

from __future__ import annotations

import argparse
import heapq
import random
import resource
import sys
import time
import tracemalloc
from array import array
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, SEED, emit_json, print_table

from bot.config import load_config
from bot.config.proactive import ProactiveRule, ProactiveSection
from bot.proactive.decide import CustomerFacts, decide

START = datetime(2026, 11, 1, tzinfo=UTC)
ZONES = (
    ("Asia/Shanghai", 0.60),
    ("Asia/Hong_Kong", 0.05),
    ("Asia/Singapore", 0.05),
    ("Europe/Berlin", 0.07),
    ("Europe/London", 0.05),
    ("America/New_York", 0.08),
    ("America/Los_Angeles", 0.05),
    (None, 0.05),
)
BANDS = (("high", 0.2), ("mid", 0.4), ("low", 0.3), (None, 0.1))
LIFECYCLES = (("new", 0.1), ("active", 0.3), ("steady", 0.35), ("dormant", 0.15), ("churned", 0.1))
EVENT_MIX = (
    ("page_dwell", 0.25),
    ("cart_abandoned", 0.15),
    ("order_paid", 0.20),
    ("payment_failed", 0.05),
    ("shipment_delayed", 0.04),
    ("delivered", 0.15),
    ("repurchase_due", 0.05),
    ("product_view", 0.105),  # a custom type no rule triggers on
    ("opt_out", 0.005),  # the customer wrote 退订 / stop
)
HOT_SHARE = 0.2  # a fifth of the customers ...
HOT_EVENTS = 0.6  # ... send this share of the events
OPTED_OUT = 0.03


@dataclass(frozen=True, slots=True)
class Trigger:
    """A stored customer event, as the decision reads it."""

    type: str
    occurred_at: datetime
    customer: int


@dataclass(slots=True)
class Population:
    ids: list[str]
    profiles: list[
        tuple[str | None, frozenset[str], frozenset[str], str, frozenset[str], str | None]
    ]
    opted_out: bytearray


@dataclass(slots=True)
class Events:
    seconds: array[float]  # since START, ascending
    customer: array[int]
    kind: array[int]  # index into EVENT_MIX


def pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def make_population(n: int, rng: random.Random) -> Population:
    interned: dict[frozenset[str], frozenset[str]] = {}

    def intern(s: frozenset[str]) -> frozenset[str]:
        return interned.setdefault(s, s)

    ids, profiles = [], []
    zones = rng.choices([z for z, _ in ZONES], [w for _, w in ZONES], k=n)
    bands = rng.choices([b for b, _ in BANDS], [w for _, w in BANDS], k=n)
    lifecycles = rng.choices([x for x, _ in LIFECYCLES], [w for _, w in LIFECYCLES], k=n)
    for i in range(n):
        band, lifecycle = bands[i], lifecycles[i]
        segments = {lifecycle, f"lifecycle:{lifecycle}"}
        tags = set()
        if band is not None:
            segments |= {band, f"value:{band}"}
        if band == "high":
            tags.add("high_value")
        if rng.random() < 0.05:
            tags.add("complaint_sensitive")
        if rng.random() < 0.1:
            tags.add("follows_new_products")
        channels = {
            c for c, p in (("web", 0.7), ("telegram", 0.3), ("wechat", 0.4)) if rng.random() < p
        }
        language = "en" if rng.random() < 0.2 else "zh"
        ids.append(f"C{i:06d}")
        profiles.append(
            (
                band,
                intern(frozenset(segments)),
                intern(frozenset(tags)),
                language,
                intern(frozenset(channels or {"web"})),
                zones[i],
            )
        )
    opted = bytearray(1 if rng.random() < OPTED_OUT else 0 for _ in range(n))
    return Population(ids, profiles, opted)


def make_events(n: int, customers: int, days: float, rng: random.Random) -> Events:
    """n events over `days`, in time order (exponential gaps: a Poisson stream)."""
    span = days * 86_400
    rate = n / span
    seconds, who, kind = array("d"), array("l"), array("b")
    hot = max(1, int(customers * HOT_SHARE))
    kinds = rng.choices(range(len(EVENT_MIX)), [w for _, w in EVENT_MIX], k=n)
    t = 0.0
    for i in range(n):
        t += rng.expovariate(rate)
        seconds.append(min(t, span))
        who.append(rng.randrange(hot) if rng.random() < HOT_EVENTS else rng.randrange(customers))
        kind.append(kinds[i])
    return Events(seconds, who, kind)


def run(
    section: ProactiveSection, people: Population, events: Events, days: float
) -> dict[str, Any]:
    """The scheduler's loop over the events, in memory; the decision mix and the timings."""
    rules_by_type: dict[str, list[ProactiveRule]] = {}
    for r in section.rules:
        rules_by_type.setdefault(r.event, []).append(r)
    types = [t for t, _ in EVENT_MIX]
    triggered = [rules_by_type.get(t, []) for t in types]
    window = section.caps.window
    # What the ledger and the event store would hold, per customer:
    sent: dict[int, list[datetime]] = {}  # sends inside the cap window, oldest first
    last_by_rule: dict[int, dict[str, datetime]] = {}
    last_event: dict[int, dict[str, datetime]] = {}  # newest occurrence of each type
    opted = bytearray(people.opted_out)
    due: list[tuple[datetime, int, ProactiveRule, Trigger]] = []
    mix: Counter[str] = Counter()
    seq = 0
    decide_ns = 0
    decisions = 0
    no_rules: dict[str, datetime] = {}
    perf = time.perf_counter_ns

    def settle(now: datetime) -> None:
        """Decide every row due by `now`, each at its due time."""
        nonlocal decide_ns, decisions, seq
        while due and due[0][0] <= now:
            at, _, rule, trig = heapq.heappop(due)
            c = trig.customer
            band, segments, tags, language, channels, zone = people.profiles[c]
            times = sent.get(c)
            if times:
                cut = bisect_right(times, at - window)
                if cut:
                    del times[:cut]
            seen = last_event.get(c, no_rules)
            later = {t for t in rule.expires_if if (seen.get(t) or START) > trig.occurred_at}
            facts = CustomerFacts(
                people.ids[c],
                band,
                segments,
                tags,
                language,
                channels,
                zone,
                bool(opted[c]),
                tuple(times) if times else (),
                last_by_rule.get(c, no_rules),
            )
            t0 = perf()
            d = decide(rule, facts, trig, later, at, section)
            decide_ns += perf() - t0
            decisions += 1
            mix[f"{d.action}:{d.reason}" if d.reason else d.action] += 1
            if d.action == "send":
                sent.setdefault(c, []).append(at)
                last_by_rule.setdefault(c, {})[rule.name] = at
            elif d.action == "wait":
                assert d.at is not None
                seq += 1
                heapq.heappush(due, (d.at, seq, rule, trig))

    started = time.perf_counter()
    seconds, who, kind = events.seconds, events.customer, events.kind
    for i in range(len(seconds)):
        now = START + timedelta(seconds=seconds[i])
        settle(now)
        c, k = who[i], kind[i]
        name = types[k]
        last_event.setdefault(c, {})[name] = now
        if name == "opt_out":
            opted[c] = 1
            continue
        for rule in triggered[k]:
            seq += 1
            heapq.heappush(due, (now + rule.delay, seq, rule, Trigger(name, now, c)))
    settle(START + timedelta(days=days))
    loop_s = time.perf_counter() - started
    return {
        "decisions": decisions,
        "decide_s": decide_ns / 1e9,
        "loop_s": loop_s,
        "mix": dict(mix.most_common()),
        "pending_at_end": len(due),
        "customers_sent_to": sum(1 for c in last_by_rule if last_by_rule[c]),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """The resident set now (Linux), else the peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return peak_rss_mb()
    return pages * resource.getpagesize() / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--no-trace", action="store_true", help="skip the tracemalloc run")
    args = ap.parse_args()
    section = load_config(REPO / "config.yml", env={}).proactive
    rss_start_mb = current_rss_mb()
    t0 = time.perf_counter()
    people = make_population(args.customers, random.Random(args.seed))
    events = make_events(args.events, args.customers, args.days, random.Random(args.seed + 1))
    generate_s = time.perf_counter() - t0
    figures: dict[str, Any] = {
        "customers": args.customers,
        "events": args.events,
        "days": args.days,
        "seed": args.seed,
        "rules": len(section.rules),
        "generate_s": round(generate_s, 2),
        "rss_after_imports_mb": round(rss_start_mb, 1),
        "rss_after_generating_mb": round(current_rss_mb(), 1),
    }
    result = run(section, people, events, args.days)  # untraced: the timings and the RSS
    figures["peak_rss_mb"] = round(peak_rss_mb(), 1)

    tracing = not args.no_trace
    if tracing:  # the same data and loop again, under tracemalloc (slower: no timings)
        del people, events
        tracemalloc.start()
        people = make_population(args.customers, random.Random(args.seed))
        events = make_events(args.events, args.customers, args.days, random.Random(args.seed + 1))
        data_mb = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.reset_peak()
        traced = run(section, people, events, args.days)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert traced["mix"] == result["mix"], "the traced and untraced runs decided differently"
        figures["tracemalloc_data_mb"] = round(data_mb, 1)
        figures["tracemalloc_peak_mb"] = round(peak / 2**20, 1)
        figures["tracemalloc_loop_state_peak_mb"] = round((peak / 2**20) - data_mb, 1)

    figures |= {
        "decisions": result["decisions"],
        "decide_per_s": round(result["decisions"] / result["decide_s"]),
        "decide_mean_us": round(result["decide_s"] / result["decisions"] * 1e6, 3),
        "loop_events_per_s": round(args.events / result["loop_s"]),
        "loop_decisions_per_s": round(result["decisions"] / result["loop_s"]),
        "loop_s": round(result["loop_s"], 2),
        "pending_at_end": result["pending_at_end"],
        "customers_sent_to": result["customers_sent_to"],
        "mix": result["mix"],
    }

    print(
        f"{args.customers:,} customers, {args.events:,} events over {args.days:g} days, "
        f"{len(section.rules)} rules (config.yml), seed {args.seed}; "
        f"generated in {generate_s:.1f} s"
    )
    print(
        f"decide: {figures['decide_per_s']:,} decisions/s ({figures['decide_mean_us']} µs each); "
        f"whole loop: {figures['loop_events_per_s']:,} events/s, "
        f"{figures['loop_decisions_per_s']:,} decisions/s, {figures['loop_s']} s"
    )
    if tracing:
        print(
            f"memory (tracemalloc): data {figures['tracemalloc_data_mb']} MB, peak "
            f"{figures['tracemalloc_peak_mb']} MB "
            f"(loop state {figures['tracemalloc_loop_state_peak_mb']} MB)"
        )
    print(
        f"RSS: {figures['rss_after_imports_mb']} MB after imports, "
        f"{figures['rss_after_generating_mb']} MB with the data, "
        f"peak {figures['peak_rss_mb']} MB (untraced run)"
    )
    print()
    total = result["decisions"]
    print_table(
        ["decision", "count", "share"],
        [(k, v, v / total) for k, v in result["mix"].items()],
    )
    print(f"still scheduled at the end: {result['pending_at_end']:,}")
    print()
    emit_json(figures)


if __name__ == "__main__":
    main()
