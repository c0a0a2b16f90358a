"""The sweeper that finishes turns nobody else will: a customer message stored, then its process
was killed (or the turn raised) before the answer was stored, and the customer did not send it
again (a retry with the same message id is resumed at once by the engine itself).

Every instance runs one. They may find the same message; the customer's turn lock and the
re-check under it (bot/store/turns.py) let exactly one of them run the turn, and the store keeps
one outcome even if two ever did (`turns.finish` refuses a message that has its parse already).
"""

from __future__ import annotations

import asyncio
import logging
from itertools import groupby

from bot.config import RecoverySettings
from bot.dialogue.engine import DialogueEngine
from bot.periodic import Periodic
from bot.store.turns import UnfinishedTurn

log = logging.getLogger(__name__)
BATCH = 100  # unfinished turns read per sweep; a backlog is worked off over several sweeps
CONVERSATIONS_AT_ONCE = 4  # finished side by side; each conversation's turns one after another


class TurnRecovery:
    def __init__(self, engine: DialogueEngine, settings: RecoverySettings) -> None:
        self.engine = engine
        self.settings = settings
        self._gate = asyncio.Semaphore(CONVERSATIONS_AT_ONCE)
        self._loop = Periodic(
            "turn-recovery",
            self.sweep,
            lambda: self.settings.interval_seconds,
            # the database is away, say: log it, look again later
            lambda exc: log.warning("turn recovery: sweep failed (%s)", exc),
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def sweep(self) -> int:
        """Finish the unfinished turns that are old enough; how many this instance finished
        (another instance may have taken some of those it found)."""
        due = await self.engine.unfinished.due(
            older_than_s=self.settings.after_seconds, limit=BATCH
        )
        if due:
            log.info("turn recovery: %d unfinished turn(s) found", len(due))
        by_conversation = [
            list(g)
            for _, g in groupby(
                sorted(due, key=lambda t: (t.conversation_id, t.created_at, t.message_id)),
                key=lambda t: t.conversation_id,
            )
        ]
        done = await asyncio.gather(*(self._conversation(turns) for turns in by_conversation))
        return sum(done)

    async def _conversation(self, turns: list[UnfinishedTurn]) -> int:
        """One conversation's unfinished turns, in the order they were said."""
        finished = 0
        async with self._gate:
            for turn in turns:
                try:
                    if await self.engine.recover(turn) is not None:
                        finished += 1
                except Exception:  # counted in the message: the next sweep tries again
                    log.exception("turn recovery: message %d failed again", turn.message_id)
        return finished
