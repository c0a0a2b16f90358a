"""Read marks (contract C2) on SQLite and PostgreSQL: they only move forward, read implies
received, a mark never passes the conversation's newest message, and two writers racing with
different marks leave the highest."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import InputError
from bot.store.errors import NotFoundError
from bot.store.read_marks import ReadMarks
from bot.store.sql_store import SqlStore


async def _conversation(store: SqlStore, n: int) -> tuple[str, list[int]]:
    """A web conversation with `n` messages, alternating customer and agent; their ids."""
    customer = await store.customers.for_identity("web", f"reader-{n}")
    conv = await store.conversations.active(customer.id, "web")
    ids = []
    for i in range(n):
        sender = "customer" if i % 2 == 0 else "agent"
        ids.append((await store.messages.append(conv.id, sender, f"message {i}")).id)
    return conv.id, ids


async def test_marks_move_forward_only_and_read_implies_received(store: SqlStore) -> None:
    cid, ids = await _conversation(store, 4)
    assert await store.read_marks.get(cid) == {"customer": ReadMarks(), "agent": ReadMarks()}

    first = await store.read_marks.mark(cid, "customer", read_up_to=ids[1])
    assert first == ReadMarks(received_up_to=ids[1], read_up_to=ids[1]) and first.changed

    received = await store.read_marks.mark(cid, "customer", received_up_to=ids[3])
    assert received == ReadMarks(ids[3], ids[1]) and received.changed

    back = await store.read_marks.mark(cid, "customer", received_up_to=ids[0], read_up_to=ids[0])
    assert back == ReadMarks(ids[3], ids[1]) and not back.changed  # never backwards

    same = await store.read_marks.mark(cid, "customer", read_up_to=ids[1])
    assert not same.changed

    await store.read_marks.mark(cid, "agent", read_up_to=ids[2])
    assert await store.read_marks.get(cid) == {
        "customer": ReadMarks(ids[3], ids[1]),
        "agent": ReadMarks(ids[2], ids[2]),
    }


async def test_a_mark_is_clamped_to_the_newest_message(store: SqlStore) -> None:
    cid, ids = await _conversation(store, 2)
    marks = await store.read_marks.mark(cid, "agent", read_up_to=ids[-1] + 1000)
    assert marks == ReadMarks(ids[-1], ids[-1])
    # So the next message is not marked read before anyone saw it.
    newer = (await store.messages.append(cid, "customer", "later")).id
    assert (await store.read_marks.get(cid))["agent"].read_up_to == ids[-1] < newer


async def test_bad_marks_and_unknown_conversations_are_refused(store: SqlStore) -> None:
    cid, ids = await _conversation(store, 1)
    with pytest.raises(InputError):
        await store.read_marks.mark(cid, "bot", read_up_to=ids[0])
    for bad in (0, -3, True, 2**64):
        with pytest.raises(InputError):
            await store.read_marks.mark(cid, "agent", read_up_to=bad)
    with pytest.raises(NotFoundError):
        await store.read_marks.mark("nope", "agent", read_up_to=1)
    # A conversation with no messages yet has nothing to mark.
    customer = await store.customers.for_identity("web", "empty")
    empty = await store.conversations.active(customer.id, "web")
    assert await store.read_marks.mark(empty.id, "agent", read_up_to=5) == ReadMarks()


async def test_racing_writers_leave_the_highest_mark(store: SqlStore) -> None:
    cid, ids = await _conversation(store, 30)
    # As two instances would: many marks at once, in no particular order.
    order = ids[::2] + ids[1::2]
    results = await asyncio.gather(
        *(store.read_marks.mark(cid, "customer", read_up_to=i) for i in order)
    )
    assert (await store.read_marks.get(cid))["customer"] == ReadMarks(ids[-1], ids[-1])
    assert any(r.changed for r in results)
    # Each call returns the marks after its own: never below what it asked for.
    assert all(
        r.read_up_to is not None and r.read_up_to >= i for r, i in zip(results, order, strict=True)
    )
