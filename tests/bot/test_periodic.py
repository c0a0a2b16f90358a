"""bot/periodic.py: the background loop the sweepers, the segment refresh and the webhooks'
worker share."""

from __future__ import annotations

import asyncio

from bot.periodic import Periodic


async def test_a_failing_round_is_reported_and_the_next_one_runs() -> None:
    rounds: list[int] = []
    errors: list[str] = []

    async def round_() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("database away")

    loop = Periodic("test", round_, lambda: 0.01, lambda exc: errors.append(str(exc)))
    loop.start()
    for _ in range(200):
        if len(rounds) >= 3:
            break
        await asyncio.sleep(0.01)
    await loop.stop()
    assert len(rounds) >= 3
    assert errors == ["database away"]
    await loop.stop()  # a second stop is harmless


async def test_stop_cancels_a_round_in_progress_without_reporting_it() -> None:
    started = asyncio.Event()
    errors: list[Exception] = []

    async def round_() -> None:
        started.set()
        await asyncio.sleep(60)

    loop = Periodic("test", round_, lambda: 60, errors.append)
    loop.start()
    await started.wait()
    await loop.stop()
    assert errors == []


async def test_once_unless_positive_runs_one_round_at_zero() -> None:
    rounds: list[None] = []

    async def round_() -> None:
        rounds.append(None)

    loop = Periodic("test", round_, lambda: 0, lambda exc: None, once_unless_positive=True)
    loop.start()
    await asyncio.sleep(0.05)
    await loop.stop()
    assert rounds == [None]
