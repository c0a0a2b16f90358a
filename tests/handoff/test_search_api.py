"""`GET /api/agent/search` through the real app: what it refuses (each with a stable `error`
word), who finds what (the rule for reading a conversation: an agent their groups' and their own
chats, a supervisor everything), results with snippets, paging, and a closed hit's transcript."""

from __future__ import annotations

from typing import Any

from bot import clock
from tests.apps import AppFactory, Client, Session, add_agent, ask_for_a_person, login, store_of

SEARCH = "/api/agent/search"


async def _get(client: Client, who: Session, status: int = 200, **query: str) -> Any:
    resp = await client.get(SEARCH, params=query, headers=who.cookie)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def _served_and_resolved(client: Client, amy: Session) -> str:
    """A chat Amy takes, answers and resolves: closed, and hers to look back on."""
    cid = await ask_for_a_person(client, "alice")
    path = f"/api/agent/conversations/{cid}"
    assert (await client.post(f"{path}/claim", headers=amy.writes)).status == 200
    said = {"text": "您的蓝牙耳机 refund has been approved"}
    assert (await client.post(f"{path}/send", json=said, headers=amy.writes)).status == 200
    assert (await client.post(f"{path}/resolve", headers=amy.writes)).status == 200
    return cid


async def test_search_refuses_bad_input_with_a_code(make_client: AppFactory) -> None:
    client = await make_client(always_open=True)
    await add_agent(client, "amy", skills=["after_sales"])
    amy = await login(client, "amy")
    anonymous = await client.get(SEARCH, params={"q": "refund"})
    assert anonymous.status == 401
    cases = [
        ({}, "missing_query"),
        ({"q": "   "}, "missing_query"),
        ({"q": "x" * 201}, "query_too_long"),
        ({"q": "？！…"}, "no_words"),
        ({"q": "refund", "limit": "0"}, "invalid_limit"),
        ({"q": "refund", "limit": "51"}, "invalid_limit"),
        ({"q": "refund", "limit": "ten"}, "invalid_limit"),
        ({"q": "refund", "before": "garbage"}, "invalid_cursor"),
        ({"q": "refund", "before": "x" * 501}, "invalid_cursor"),
    ]
    for query, code in cases:
        body = await _get(client, amy, 400, **query)
        assert (body["code"], body["error"]) == (400, code), (query, body)
        assert body["message"]
    assert (await _get(client, amy, q="x" * 200))["results"] == []  # the longest allowed


async def test_agents_find_only_what_they_may_read_and_supervisors_everything(
    make_client: AppFactory,
) -> None:
    client = await make_client(always_open=True)
    store = store_of(client)
    await add_agent(client, "amy", skills=["after_sales", "pre_sales"])
    await add_agent(client, "bill", skills=["billing"])
    await add_agent(client, "sue", skills=["billing"], role="supervisor")
    amy, bill, sue = [await login(client, n) for n in ("amy", "bill", "sue")]
    served = await _served_and_resolved(client, amy)
    # Another customer's chat the bot handled alone: no agent was ever involved.
    bob = await store.customers.for_identity("web", "bob")
    await store.customers.update(bob.id, name="Bob")
    alone = await store.conversations.active(bob.id, "web")
    await store.messages.append(alone.id, "customer", "蓝牙耳机 refund please")
    await store.conversations.update(alone.id, status="closed", closed_at=clock.now())

    mine = await _get(client, amy, q="蓝牙耳机 refund")
    assert [r["conversation_id"] for r in mine["results"]] == [served]
    hit = mine["results"][0]
    assert hit["channel"] == "rest" and hit["status"] in ("resolved", "closed")
    assert "蓝牙耳机" in hit["snippet"] and "refund" in hit["snippet"]
    assert hit["started_at"] and hit["matches"] == 1 and hit["sender"] == "agent"
    assert set(mine["terms"]) >= {"refund", "蓝牙耳机"} and mine["next"] is None

    assert (await _get(client, bill, q="refund"))["results"] == []
    everything = await _get(client, sue, q="refund")
    assert {r["conversation_id"] for r in everything["results"]} == {served, alone.id}
    assert {r["customer_name"] for r in everything["results"]} >= {"Bob"}

    # One at a time: the cursor leads to the other conversation, then to nothing.
    first = await _get(client, sue, q="refund", limit="1")
    assert len(first["results"]) == 1 and first["next"]
    second = await _get(client, sue, q="refund", limit="1", before=first["next"])
    assert len(second["results"]) == 1 and second["next"] is None
    assert {first["results"][0]["conversation_id"], second["results"][0]["conversation_id"]} == {
        served,
        alone.id,
    }

    # The hit's transcript opens for whoever found it, closed as it is; not for Bill.
    path = f"/api/agent/conversations/{served}"
    transcript = await client.get(path, headers=amy.cookie)
    assert transcript.status == 200
    texts = [m["text"] for m in (await transcript.json())["messages"]]
    assert "您的蓝牙耳机 refund has been approved" in texts
    assert (await client.get(path, headers=bill.cookie)).status == 403
