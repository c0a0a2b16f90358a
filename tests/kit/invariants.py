"""What must hold after any fault or load, read back from the database the servers wrote:

- every customer message a client had accepted is stored exactly once;
- every stored customer message was answered by the bot or handed over (its turn finished: the
  parse and the replies are stored in one transaction), none left behind by a dead process;
- each conversation's messages are numbered 1..n with no gap or double;
- nobody is assigned twice: a conversation has at most one open handoff, no agent holds more
  chats than their maximum, and each claim a client saw succeed is the one in the database.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.store.sql_store import SqlStore


@dataclass
class Ledger:
    """What the clients saw: the message ids each customer had accepted, in order, and the
    claims an agent was told had succeeded (handoff id -> agent usernames)."""

    accepted: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))
    claims: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[int] = field(default_factory=Counter)  # HTTP answers, retries included


@dataclass(frozen=True)
class Summary:
    customer_messages: int
    bot_messages: int
    handed_over: int  # conversations with a handoff
    assigned: int  # handoffs with an agent now
    recovered: int  # customer messages whose turn was finished by a recovery


def message_findings(
    sent: Sequence[str], accepted: Collection[str], stored: Sequence[str | None]
) -> list[tuple[str, str]]:
    """What went wrong with one customer's messages, as (lost | duplicated | reordered, what).
    `sent`: the message ids in the order the client sent them; `accepted`: those the server
    acknowledged; `stored`: the ids of the customer messages stored, in the order stored.
    Lost: accepted and not stored; duplicated: stored more than once; reordered: the sent
    messages were stored in another order than sent."""
    counts = Counter(stored)
    found = [
        ("lost", f"accepted, not stored: {i}") for i in sent if i in accepted and i not in counts
    ]
    found += [("duplicated", f"stored {n} times: {i}") for i, n in counts.items() if n > 1]
    known = set(sent)
    stored_order = [i for i in stored if i in known]
    if stored_order != [i for i in sent if i in counts]:
        found.append(("reordered", f"stored in the order {stored_order}"))
    return found


async def check(url: str, ledger: Ledger) -> Summary:
    """The invariants over everything the ledger's clients had accepted; AssertionError naming
    every one broken, else a summary of what was stored."""
    store = await SqlStore.open(url)
    try:
        return await store.db.run(lambda s: _check(s, ledger))
    finally:
        await store.close()


def _check(s: Session, ledger: Ledger) -> Summary:
    problems: list[str] = []
    customer_total = bot_total = recovered = 0
    conversations_seen: set[str] = set()
    for (channel, sender), accepted in sorted(ledger.accepted.items()):
        customer = s.scalar(
            select(m.ChannelIdentity.customer_id).where(
                m.ChannelIdentity.channel == channel, m.ChannelIdentity.external_id == sender
            )
        )
        if customer is None:
            problems.append(f"{channel}/{sender}: no customer stored")
            continue
        conversations = s.scalars(
            select(m.Conversation.id).where(m.Conversation.customer_id == customer)
        ).all()
        stored: list[m.Message] = []
        for cid in conversations:
            conversations_seen.add(cid)
            messages = s.scalars(
                select(m.Message).where(m.Message.conversation_id == cid).order_by(m.Message.seq)
            ).all()
            seqs = [x.seq for x in messages]
            if seqs != list(range(1, len(seqs) + 1)):
                problems.append(f"conversation {cid}: message numbers {seqs}")
            handed_over = s.scalar(select(m.Handoff.id).where(m.Handoff.conversation_id == cid))
            for x in messages:
                if x.sender == "bot":
                    bot_total += 1
                if x.sender != "customer":
                    continue
                stored.append(x)
                recovered += x.turn_attempts > 0
                answered = any(y.sender == "bot" and y.seq > x.seq for y in messages)
                if x.parse is None:
                    problems.append(f"{sender}: {x.external_id} ({x.text!r}) never finished")
                elif not answered and handed_over is None:
                    problems.append(f"{sender}: {x.external_id} neither answered nor handed over")
        customer_total += len(stored)
        in_order = [x.external_id for x in sorted(stored, key=lambda x: x.id)]
        found = message_findings(accepted, accepted, in_order)
        problems += [f"{sender}: {kind}: {what}" for kind, what in found]
    handed, assigned = _handoffs(s, ledger, problems)
    if problems:
        raise AssertionError("invariants broken:\n  " + "\n  ".join(problems))
    return Summary(customer_total, bot_total, handed, assigned, recovered)


def _handoffs(s: Session, ledger: Ledger, problems: list[str]) -> tuple[int, int]:
    handoffs = s.scalars(select(m.Handoff)).all()
    agents = {a.id: a for a in s.scalars(select(m.Agent)).all()}
    open_per_conversation = Counter(
        h.conversation_id for h in handoffs if h.status in ("queued", "assigned")
    )
    for cid, n in open_per_conversation.items():
        if n > 1:
            problems.append(f"conversation {cid}: {n} open handoffs")
    load = Counter(h.assigned_to for h in handoffs if h.status == "assigned")
    for agent_id, n in load.items():
        agent: Any = agents.get(agent_id or "")
        if agent is None or n > agent.max_concurrent:
            problems.append(f"agent {agent_id}: {n} chats at once")
    by_conversation = {h.conversation_id: h for h in handoffs}
    for cid, winners in ledger.claims.items():
        if len(winners) > 1:
            problems.append(f"conversation {cid}: claimed by {winners}")
        h = by_conversation.get(cid)
        holder = agents[h.assigned_to].username if h and h.assigned_to in agents else None
        if winners and holder != winners[0]:
            problems.append(f"conversation {cid}: {winners[0]} was told yes, {holder} holds it")
    return len({h.conversation_id for h in handoffs}), sum(load.values())


async def check_when_settled(url: str, ledger: Ledger, timeout: float = 20) -> Summary:
    """`check`, once turns stalled by a fault are finished (the recovery sweeper's work): only
    "never finished" and "neither answered" are waited out; a loss, a duplicate or a
    reordering never heals, so it fails at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check(url, ledger)
        except AssertionError as exc:
            lines = str(exc).splitlines()[1:]
            waiting = ("never finished", "neither answered")
            if time.monotonic() > deadline or not all(any(w in x for w in waiting) for x in lines):
                raise
        await asyncio.sleep(0.5)
