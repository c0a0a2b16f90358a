"""After each level: the database against the clients' logs. Lost, duplicated and out-of-order
messages (the customer-message part is the kit's `message_findings`, as in the fault tests),
replies in the wrong place, and what a client received twice or never."""

from __future__ import annotations

import re
import sys
from collections import Counter
from typing import Any

from bot.store.sql_store import SqlStore
from connectors.web.identity import sender_for
from tests.kit.invariants import message_findings

from .customers import Log


async def verify(storage_url: str, logs: list[Log]) -> dict[str, int]:
    """Lost, duplicated and out-of-order messages: the database against the clients' logs.
    The first findings are printed, with the transcripts of the first two sessions concerned."""

    store = await SqlStore.open(storage_url)
    counts = {"lost": 0, "duplicated": 0, "reordered": 0, "late_queue_reply": 0}
    shown = 0
    try:
        for log in logs:
            if log.kind == "rest":
                customer = await store.customers.find("rest", log.sender)
            elif log.sender:
                customer = await store.customers.find("web", sender_for(log.sender))
            else:
                customer = None
            stored = await store.messages.of_customer(customer.id) if customer else []
            found = check_session(log, stored)
            for kind, _ in found:
                counts[kind] += 1
            if shown < 2 and any(kind != "late_queue_reply" for kind, _ in found):
                shown += 1
                print(f"    {log.kind} {log.key}: {found[:4]}; stored:", file=sys.stderr)
                for m in stored:
                    event = m.payload.get("event") or ""
                    print(
                        f"      {m.seq:>3} {m.sender:<8} {event:<14} {m.text[:50]!r}",
                        file=sys.stderr,
                    )
    finally:
        await store.close()
    return counts


def check_session(log: Log, stored: list[Any]) -> list[tuple[str, str]]:
    """(lost | duplicated | reordered | late_queue_reply, what) for one customer: their stored
    messages against what their client sent and received. A late queue reply is the bot's "you
    are number N in the queue" stored after a queue update or the agent's joining: not a loss
    by itself, but the customer reads stale news, and a REST client's `after` skips the news."""
    mine = [m for m in stored if m.sender == "customer"]
    by_ext: dict[str, list[Any]] = {}
    for m in mine:
        by_ext.setdefault(m.external_id or "", []).append(m)
    # Customer messages: accepted -> stored once, in the order sent (the kit's check, as in the
    # fault tests), and with the text sent.
    in_order = [m.external_id for m in sorted(mine, key=lambda m: (m.conversation_id, m.seq))]
    found = message_findings([e for e, _ in log.sent], log.acked, in_order)
    sent_text = dict(log.sent)
    found += [
        ("lost", f"stored with another text: {e}")
        for e in sorted(log.acked)
        if e in by_ext and by_ext[e][0].text.strip() != sent_text[e].strip()
    ]
    # Each bot reply lies between its own message and the customer's next one.
    seqs = sorted(m.seq for m in mine)
    for e, replies in log.replies.items():
        if e in by_ext:
            own = by_ext[e][0].seq
            nxt = next((s for s in seqs if s > own), None)
            found += [
                ("reordered", f"reply {s} to {e} (seq {own}) is not before the next line ({nxt})")
                for s in replies
                if s <= own or (nxt is not None and s >= nxt)
            ]
    # One stored agent reply per line.
    tags = Counter(
        t for m in stored if m.sender == "agent" for t in re.findall(r"\[re:(\S+)\]", m.text)
    )
    found += [
        ("duplicated", f"agent reply to {t} stored {n} times") for t, n in tags.items() if n > 1
    ]
    # The escalating turn's reply ("you are number N in the queue") should come before any news
    # of that handoff (a queue update, the agent joining).
    line, queued = by_ext.get(log.escalated_by), log.replies.get(log.escalated_by)
    if line and queued:
        news = [
            m.payload.get("event") or m.sender
            for m in stored
            if line[0].seq < m.seq < max(queued) and m.seq not in queued
        ]
        if news:
            found.append(("late_queue_reply", f"queue reply {max(queued)} stored after {news}"))
    # Everything meant for the customer reached their client, once, in seq order.
    outbound = {
        (m.conversation_id, m.seq): m
        for m in stored
        if m.sender != "customer" and not m.payload.get("internal")
    }
    got = {(c, s) for c, s, sender in log.received if sender != "customer"}
    if log.timed_out:  # counted once, as the answer that never came
        found.append(("lost", f"stopped {log.step}"))
    else:
        found += [
            ("lost", f"never received: seq {k[1]} {m.sender} {m.payload.get('event') or ''}")
            for k, m in sorted(outbound.items())
            if k not in got
        ]
    found += [("lost", f"received seq {s}, which is not stored") for c, s in got - set(outbound)]
    seen = Counter((c, s) for c, s, _ in log.received)
    found += [("duplicated", f"received seq {s} {n} times") for (c, s), n in seen.items() if n > 1]
    last: dict[str, int] = {}
    for c, s, _ in log.received:
        if s < last.get(c, 0):
            found.append(("reordered", f"received seq {s} after {last[c]}"))
        last[c] = max(last.get(c, 0), s)
    return found
