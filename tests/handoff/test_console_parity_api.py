"""The console's JSON API for issue 20 on the real app, through real console logins: a stable
`error` word on every refusal (beside the HTTP status `code` clients already read), the
conversation with its holder, notes signed by name, the customer's contact details, read marks
and web context, queue previews and holder names, colleagues, and transfer to a named one."""

from __future__ import annotations

from typing import Any

from bot.http.keys import CONFIG
from bot.store.web_context import WebContext
from tests.apps import (
    LOGIN,
    AppFactory,
    Client,
    Session,
    add_agent,
    ask_for_a_person,
    login,
    store_of,
)


async def _json(resp: Any, status: int) -> dict[str, Any]:
    body: dict[str, Any] = await resp.json()
    assert resp.status == status, body
    return body


async def _refused(resp: Any, status: int, error: str) -> dict[str, Any]:
    """A refusal: the status, the unchanged error shape, and the stable word."""
    body = await _json(resp, status)
    assert body["status"] == "failure" and body["code"] == status, body
    assert body["error"] == error and body["message"].strip(), body
    return body


async def test_the_conversation_queue_colleagues_transfer_and_error_codes(
    make_client: AppFactory,
) -> None:
    client: Client = await make_client(always_open=True)
    store = store_of(client)
    await add_agent(client, "amy", skills=["after_sales"], max_concurrent=3)
    await add_agent(client, "bob", skills=["after_sales"])
    await add_agent(client, "cat", skills=["billing"], status="away")
    await add_agent(client, "dan", skills=["after_sales"], status="offline")
    amy, bob = await login(client, "amy"), await login(client, "bob")

    def url(cid: str, tail: str = "") -> str:
        return f"/api/agent/conversations/{cid}{tail}"

    async def post(who: Session, path: str, body: dict[str, Any] | None = None) -> Any:
        return await client.post(path, headers=who.writes, json=body or {})

    # Not logged in: the old shape, with its word.
    await _refused(await client.get("/api/agent/queue"), 401, "unauthorized")
    await _refused(await client.get(url("nope"), headers=amy.cookie), 404, "not_found")

    cid = await ask_for_a_person(client, "parity-customer")
    conv = await store.conversations.get(cid)
    await store.profiles.edit(
        conv.customer_id, "test", {"email": "wang@example.com", "phone": "+8613800000000"}
    )

    # The queue item previews the last message and names nobody as holder yet.
    queue = await _json(await client.get("/api/agent/queue", headers=amy.cookie), 200)
    item = next(i for i in queue["queue"] if i["conversation_id"] == cid)
    newest = [m for m in await store.messages.of(cid) if m.sender != "system"][-1]
    assert item["last_message"]["text"] == newest.text[:120]
    assert item["last_message"]["sender"] == newest.sender
    assert item["assigned_to_name"] is None

    await _json(await post(amy, url(cid, "/claim")), 200)
    await _refused(await post(bob, url(cid, "/claim")), 409, "already_claimed")
    await _refused(await post(bob, url(cid, "/send"), {"text": "hi"}), 403, "not_holder")
    await _refused(await post(amy, url(cid, "/send"), {"text": " "}), 400, "invalid")
    await _json(await post(amy, url(cid, "/send"), {"text": "您好，我是 Amy"}), 200)
    await _json(await post(amy, url(cid, "/notes"), {"text": "VIP"}), 201)
    mine = await _json(await client.get("/api/agent/mine", headers=amy.cookie), 200)
    held = next(i for i in mine["conversations"] if i["conversation_id"] == cid)
    assert held["assigned_to_name"] == "Amy"
    assert (held["last_message"]["sender"], held["last_message"]["text"]) == (
        "agent",
        "您好，我是 Amy",
    )

    # The conversation: holder, names, contact, empty marks, no web context (a REST customer).
    view = await _json(await client.get(url(cid), headers=amy.cookie), 200)
    assert view["holder"] == {"username": "amy", "display_name": "Amy"}
    assert view["notes"][0]["author_name"] == "Amy"
    assert [m["agent"] for m in view["messages"] if m["sender"] == "agent"] == ["Amy"]
    assert view["customer"]["contact"] == {"email": "wang@example.com", "phone": "+8613800000000"}
    empty = {"received_up_to": None, "read_up_to": None}
    assert view["read_marks"] == {"customer": empty, "agent": empty}
    assert view["web_context"] is None
    agent_msg = next(m for m in view["messages"] if m["sender"] == "agent")
    await store.read_marks.mark(cid, "customer", received_up_to=agent_msg["id"])
    await store.web_context.record(
        conv.customer_id,
        WebContext(page_url="https://shop.example/cart", browser="Chrome 120 on Android"),
    )
    view = await _json(await client.get(url(cid), headers=amy.cookie), 200)
    assert view["read_marks"]["customer"] == {"received_up_to": agent_msg["id"], "read_up_to": None}
    assert view["web_context"]["page_url"] == "https://shop.example/cart"
    assert view["web_context"]["browser"] == "Chrome 120 on Android"

    # Colleagues: online and away, never me, never the offline.
    team = await _json(await client.get("/api/agent/colleagues", headers=amy.cookie), 200)
    assert [(a["username"], a["status"]) for a in team["agents"]] == [
        ("bob", "online"),
        ("cat", "away"),
    ]
    assert team["agents"][0] == {
        "username": "bob",
        "display_name": "Bob",
        "status": "online",
        "load": 0,
        "max_concurrent": 3,
        "skills": ["after_sales"],
    }

    # Transfer to a named colleague: checked, then recorded and told.
    for body in ({}, {"agent": "bob", "skill_group": "after_sales"}, {"agent": "amy"}):
        await _refused(await post(amy, url(cid, "/transfer"), body), 400, "invalid")
    await _refused(await post(amy, url(cid, "/transfer"), {"agent": "ghost"}), 400, "invalid")
    await _refused(
        await post(amy, url(cid, "/transfer"), {"agent": "cat"}), 409, "agent_unavailable"
    )
    await _refused(
        await post(amy, url(cid, "/transfer"), {"agent": "dan"}), 409, "agent_unavailable"
    )
    moved = await _json(await post(amy, url(cid, "/transfer"), {"agent": "bob"}), 200)
    assert moved["handoff"]["reason"] == "transfer" and moved["handoff"]["status"] == "assigned"
    view = await _json(await client.get(url(cid), headers=bob.cookie), 200)
    assert view["holder"] == {"username": "bob", "display_name": "Bob"}
    assert view["messages"][-1]["payload"] == {"event": "transferred_to_agent", "agent": "Bob"}
    await _refused(await post(amy, url(cid, "/send"), {"text": "hi"}), 403, "not_holder")
    await _refused(await post(amy, url(cid, "/resolve")), 403, "not_holder")

    # After the end: the chat is resolved, in words the console can translate.
    await _json(await post(bob, url(cid, "/resolve")), 200)
    await _refused(await post(bob, url(cid, "/send"), {"text": "one more"}), 409, "resolved")
    await _refused(await post(bob, url(cid, "/resolve")), 409, "resolved")

    # Limits: a body over server.max_body_bytes, and a login locked after failures.
    limit = client.app[CONFIG].server.max_body_bytes
    big = await client.post(url(cid, "/notes"), headers=bob.writes, data=b"x" * (limit + 1))
    await _refused(big, 413, "too_large")
    for _ in range(10):
        wrong = await client.post(LOGIN, json={"username": "dan", "password": "wrong password"})
        if wrong.status != 401:
            break
        await _refused(wrong, 401, "unauthorized")
    await _refused(wrong, 429, "rate_limited")
