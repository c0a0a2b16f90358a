"""A lifelike month of customer service, produced by the real dialogue engine and handoff service.

`python bench/simulate.py --month 2026-11` walks a simulated clock (bot/clock.py) through the
month: customers arrive with a daily and weekly rhythm, on every channel, in Chinese and English;
each sends a short script of realistic lines (the knowledge-base benchmark questions and the NLU
training examples, read at run time, plus some gibberish) through `DialogueEngine.handle`, so
parses, knowledge answers, failed turns, escalations, queue positions and tickets are whatever
the engine decides. A handful of agents work shifts: they claim queued conversations through
`HandoffService` after a realistic wait, reply, sometimes transfer or hand back to the bot, and
resolve; customers then rate, and some come back within a week about the same thing. Nothing is
written to the database except through the engine, the handoff service and the store's own API.

It is a discrete-event simulation: every customer visit (with its handoff) is one async generator
that yields the seconds until its next step; a scheduler runs the steps one at a time in simulated
time order. One step at a time keeps it deterministic: the same seed gives the same month.

It is a tool for demos and the analytics, not part of the product: it lives with the benches.
Modules: settings (the world and the results), lines (what customers say), base (scheduler,
staff, arrivals), visits (one customer's visit), run (`simulate`, the entry point).
"""

from .lines import Lines, Question, load_lines
from .run import simulate
from .settings import SimulationSettings, SimulationSummary, default_database, month_window

__all__ = [
    "Lines",
    "Question",
    "SimulationSettings",
    "SimulationSummary",
    "default_database",
    "load_lines",
    "month_window",
    "simulate",
]
