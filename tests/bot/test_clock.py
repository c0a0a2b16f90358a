"""bot/clock.py: the one time source, and its substitution for simulations and tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot import clock
from bot.config import HandoffSection
from bot.store import models
from handoff.routing import Router

NOV_1 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def test_now_is_the_real_utc_time_by_default() -> None:
    assert not clock.simulated()
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_simulated_clock_stands_still_until_moved() -> None:
    sim = clock.SimulatedClock(NOV_1)
    assert sim() == sim.now() == NOV_1
    assert sim.advance(90) == NOV_1 + timedelta(seconds=90)
    assert sim.set(NOV_1 + timedelta(days=2)) == NOV_1 + timedelta(days=2)
    with pytest.raises(ValueError, match="backwards"):
        sim.advance(-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.SimulatedClock(datetime(2026, 11, 1))
    # Another zone is kept as the same instant, in UTC.
    shanghai = datetime(2026, 11, 1, 10, 0, tzinfo=timezone(timedelta(hours=8)))
    assert clock.SimulatedClock(shanghai).now() == NOV_1
    assert clock.SimulatedClock(shanghai).now().tzinfo == UTC


def test_use_clock_substitutes_everywhere_and_restores() -> None:
    sim = clock.SimulatedClock(NOV_1)
    with clock.use_clock(sim) as used:
        assert used is sim and clock.simulated()
        assert clock.now() == NOV_1
        assert models.now() == NOV_1  # the tables' defaults
        sim.advance(60)
        assert clock.now() == NOV_1 + timedelta(minutes=1)
        with clock.use_clock(lambda: NOV_1 + timedelta(days=1)):  # nested
            assert clock.now() == NOV_1 + timedelta(days=1)
        assert clock.now() == NOV_1 + timedelta(minutes=1)
    assert not clock.simulated()
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_use_clock_restores_after_an_error() -> None:
    with pytest.raises(RuntimeError), clock.use_clock(clock.SimulatedClock(NOV_1)):
        raise RuntimeError("boom")
    assert not clock.simulated()


def test_set_source_and_back() -> None:
    try:
        clock.set_source(lambda: NOV_1)
        assert clock.now() == NOV_1
    finally:
        clock.set_source(None)
    assert not clock.simulated()


def test_service_hours_follow_the_substituted_clock() -> None:
    router = Router(HandoffSection())  # groups open 09:00-21:00 Asia/Shanghai
    sim = clock.SimulatedClock(NOV_1)  # 10:00 there
    with clock.use_clock(sim):
        assert router.is_open("after_sales")
        sim.advance(12 * 3600)  # 22:00
        assert not router.is_open("after_sales")
