"""The agents' JSON API on the real app: a customer asks for a person over REST, an agent takes
over, replies and resolves, and the customer rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.clock import SimulatedClock, use_clock
from bot.server.context import CONTEXT
from tests.apps import AppFactory, ask_for_a_person, store_of


async def test_without_a_login_the_header_is_not_enough_outside_development(
    make_client: AppFactory,
) -> None:
    client = await make_client(dev_agent_api=False)
    store = store_of(client)
    await store.agents.add("amy", "Amy", skills=["after_sales"])
    resp = await client.get("/api/agent/queue", headers={"X-Relaydesk-Agent": "amy"})
    assert resp.status == 401
    assert "log in at /console" in (await resp.json())["message"]


async def test_an_agent_takes_over_replies_and_resolves(
    make_client: AppFactory,
) -> None:
    client = await make_client(dev_agent_api=True)
    store = store_of(client)
    await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    await store.agents.add("bob", "Bob", skills=["after_sales"], status="online")
    hook = "/webhooks/rest/webhook"
    first = await (await client.post(hook, json={"sender": "c1", "message": "转人工"})).json()
    cid = first[-1]["custom"]["conversation_id"]
    amy, bob = {"X-Relaydesk-Agent": "amy"}, {"X-Relaydesk-Agent": "bob"}

    queue = await (await client.get("/api/agent/queue", headers=amy)).json()
    assert [h["conversation_id"] for h in queue["queue"]] == [cid]
    assert (await client.post(f"/api/agent/conversations/{cid}/claim")).status == 401
    nobody = await client.post(
        f"/api/agent/conversations/{cid}/claim", headers={"X-Relaydesk-Agent": "ghost"}
    )
    assert nobody.status == 401  # an unknown agent is not logged in
    assert (await client.post(f"/api/agent/conversations/{cid}/claim", headers=amy)).status == 200
    taken = await client.post(f"/api/agent/conversations/{cid}/claim", headers=bob)
    assert taken.status == 409 and "already with an agent" in (await taken.json())["message"]

    not_yours = await client.post(
        f"/api/agent/conversations/{cid}/send", headers=bob, json={"text": "hi"}
    )
    assert not_yours.status == 403  # held by Amy: closed to the rest of her group
    empty = await client.post(
        f"/api/agent/conversations/{cid}/send", headers=amy, json={"text": " "}
    )
    assert empty.status == 400
    sent = await client.post(
        f"/api/agent/conversations/{cid}/send", headers=amy, json={"text": "您好，我是 Amy"}
    )
    assert sent.status == 200 and (await sent.json())["first_reply"] is True

    note = await client.post(
        f"/api/agent/conversations/{cid}/notes",
        headers=amy,
        json={"text": "VIP, refund approved by supervisor"},
    )
    assert note.status == 201
    assert (
        await client.post(f"/api/agent/conversations/{cid}/notes", headers=amy, json={"text": ""})
    ).status == 400

    silent = await client.post(hook, json={"sender": "c1", "message": "好的谢谢"})
    assert await silent.json() == [] and silent.headers["X-Relaydesk-Status"] == "assigned"

    view = await (await client.get(f"/api/agent/conversations/{cid}", headers=amy)).json()
    senders = [m["sender"] for m in view["messages"]]
    assert senders[0] == "customer" and "agent" in senders and "system" in senders
    assert view["messages"][-1]["parse"]["intent"]["name"] == "thank"
    # The note is in the agent's view and nowhere in what the customer was sent.
    assert view["notes"][0]["text"] == "VIP, refund approved by supervisor"
    assert all("VIP" not in m["text"] for m in view["messages"])

    bad = await client.post(
        f"/api/agent/conversations/{cid}/transfer", headers=amy, json={"skill_group": "nope"}
    )
    assert bad.status == 400
    assert (await client.post(f"/api/agent/conversations/{cid}/resolve", headers=amy)).status == 200
    rated = await (await client.post(hook, json={"sender": "c1", "message": "5 很满意"})).json()
    assert "感谢" in rated[0]["text"]

    customer_id = view["conversation"]["customer_id"]
    profile = await (await client.get(f"/api/agent/customers/{customer_id}", headers=amy)).json()
    assert profile["conversations"][0]["status"] == "resolved"
    assert any(m["text"] == "5 很满意" for m in profile["history"])


async def test_a_wechat_conversation_shows_its_window_though_wechat_is_not_configured(
    make_client: AppFactory,
) -> None:
    """The window is a property of the channel kind: a WeChat conversation shows it to agents
    (and a closed one refuses a send) whether or not this server runs WeChat."""
    client = await make_client(dev_agent_api=True)  # the repository's config: WeChat off
    assert "wechat" not in client.app[CONTEXT].channels
    store = store_of(client)
    await store.agents.add("amy", "Amy", skills=["after_sales"], status="online")
    amy = {"X-Relaydesk-Agent": "amy"}
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with use_clock(SimulatedClock(start)) as clock:
        wx = await client.app[CONTEXT].engine.handle("wechat", "o-wx-7", "转人工")
        rest = await ask_for_a_person(client, "c7")
        for m in await store.messages.of(wx.conversation_id):
            if m.sender != "customer":  # the bot's replies went back in the webhook's answer
                await store.deliveries.sent(m.id, via="passive")
        claim = f"/api/agent/conversations/{wx.conversation_id}/claim"
        assert (await client.post(claim, headers=amy)).status == 200
        view = f"/api/agent/conversations/{wx.conversation_id}"
        window = (await (await client.get(view, headers=amy)).json())["channel_window"]
        # The "agent joined" notice is queued for the customer-service API: 4 of 5 left.
        assert window == {
            "channel": "wechat",
            "last_customer_at": start.isoformat(),
            "closes_at": (start + timedelta(hours=48)).isoformat(),
            "remaining": 4,
            "open": True,
            "closed_because": None,
            "fallback": None,  # no template message configured
        }
        other = await (await client.get(f"/api/agent/conversations/{rest}", headers=amy)).json()
        assert other["channel_window"] is None  # REST has no window

        clock.advance(49 * 3600)
        closed = "WeChat's 48-hour window closed; the customer must write again first"
        window = (await (await client.get(view, headers=amy)).json())["channel_window"]
        assert (window["remaining"], window["open"], window["closed_because"]) == (0, False, closed)
        refused = await client.post(f"{view}/send", headers=amy, json={"text": "Still there?"})
        assert refused.status == 409
        body = await refused.json()
        assert body["message"] == closed and body["channel_window"]["closed_because"] == closed
    assert all(m.text != "Still there?" for m in await store.messages.of(wx.conversation_id))
