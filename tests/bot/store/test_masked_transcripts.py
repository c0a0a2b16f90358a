"""`privacy.mask_transcripts` in the store, on SQLite and PostgreSQL: what reaches the database
of the customer's words is masked (messages, parses, ticket subjects, rating comments), the turn
itself still gets the original, and nothing is touched with masking off."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.store.sql_store import SqlStore
from bot.store.tables import MSG

SAID = "订单202611180042还没到，回电13800138000或邮件li.lei@example.com"
MASKED = "订单202611180042还没到，回电[phone]或邮件[email]"
PARSE: dict[str, Any] = {
    "text": SAID,
    "intent": {"name": "order_status", "confidence": 0.98},
    "entities": [
        {
            "entity": kind,
            "value": value,
            "start": SAID.index(value),
            "end": SAID.index(value) + len(value),
        }
        for kind, value in (
            ("order_id", "202611180042"),
            ("phone_number", "13800138000"),
            ("email", "li.lei@example.com"),
        )
    ],
}


async def _stored_texts(store: SqlStore, conversation_id: str) -> list[tuple[str, Any]]:
    """Read straight from the table, not through the store's records."""

    def work(s: Any) -> list[tuple[str, Any]]:
        rows = s.execute(
            select(MSG.c.text, MSG.c.parse)
            .where(MSG.c.conversation_id == conversation_id)
            .order_by(MSG.c.seq)
        )
        return [(r.text, r.parse) for r in rows]

    return await store.db.run(work)


async def test_with_masking_on_the_database_never_sees_the_contact_details(
    store: SqlStore,
) -> None:
    store.settings.mask_transcripts = True
    start = await store.turns.begin("web", "masked-1", SAID, external_id="c-1")
    assert start.inbound.text == SAID  # for this turn's understanding, in memory only
    await store.turns.finish(start.conversation.id, start.inbound.id, PARSE, [])
    cid = start.conversation.id
    await store.messages.append(cid, "customer", "/rate 5 call 139-1234-5678")
    await store.messages.append(cid, "agent", "I will call 13800138000 now")  # not the customer

    [(text, parse), (rated, _), (agent, _)] = await _stored_texts(store, cid)
    assert text == MASKED
    assert parse["text"] == MASKED
    assert [e["value"] for e in parse["entities"]] == ["202611180042", "[phone]", "[email]"]
    assert [MASKED[e["start"] : e["end"]] for e in parse["entities"]] == [
        "202611180042",
        "[phone]",
        "[email]",
    ]
    assert rated == "/rate 5 call [phone]"
    assert agent == "I will call 13800138000 now"

    # A redelivery is recognised by its id and answered from what was stored.
    again = await store.turns.begin("web", "masked-1", SAID, external_id="c-1")
    assert again.inbound.duplicate and again.inbound.text == MASKED

    ticket = await store.tickets.create(start.customer.id, SAID, conversation_id=cid)
    assert ticket.subject == MASKED
    assert (await store.tickets.get(ticket.number)).subject == MASKED
    rating = await store.ratings.add(cid, 2, "客服没回我电话13800138000")
    assert rating.comment == "客服没回我电话[phone]"


async def test_with_masking_off_everything_is_stored_as_said(store: SqlStore) -> None:
    assert store.settings.mask_transcripts is False
    start = await store.turns.begin("web", "plain-1", SAID)
    await store.turns.finish(start.conversation.id, start.inbound.id, PARSE, [])
    [(text, parse)] = await _stored_texts(store, start.conversation.id)
    assert text == SAID and parse == PARSE
    ticket = await store.tickets.create(start.customer.id, SAID)
    assert ticket.subject == SAID


async def test_a_shared_contacts_phone_is_masked_in_the_payload_its_place_kept(
    store: SqlStore,
) -> None:
    """What the customer shared (bot/dialogue/inbound.py) is stored in the message's payload;
    with masking on, a contact card's phone is masked like one in the text."""
    card = {"contact": {"name": "Wang Wei", "phone": "+8613800138000"}}
    place = {"location": {"lat": 31.23, "lon": 121.47, "label": "门店"}}
    plain = await store.turns.begin("telegram", "shared-1", "[contact]", shared=card)
    assert plain.inbound.payload == card
    store.settings.mask_transcripts = True
    masked = await store.turns.begin("telegram", "shared-2", "[contact]", shared=card)
    where = await store.turns.begin("telegram", "shared-2", "[location]", shared=place)
    [stored, located] = await store.messages.of(masked.conversation.id)
    assert stored.payload == {"contact": {"name": "Wang Wei", "phone": "[phone]"}}
    assert located.payload == place and where.inbound.payload == place
    assert card["contact"]["phone"] == "+8613800138000"  # the caller's dict untouched
