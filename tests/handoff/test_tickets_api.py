"""Tickets worked through the console's API on the real app: the bot opens a ticket when nobody
can take the chat; agents of its group see it in their queue, one claims it, notes it privately,
sends the customer progress updates, resolves it; the after-sales follow-up goes out and the
customer's answers are stored and reported. On a simulated clock: the SLA clocks, the tier-2
escalation with the supervisors alerted, and breaches in the report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.clock import SimulatedClock, use_clock
from bot.server.context import CONTEXT
from bot.store.tables import PUSHED_CHANNELS
from connectors.wechat.templates import Templates
from handoff.console.services import CONSOLE
from handoff.tickets.sweeper import TicketSweeper
from tests.apps import AppFactory, Client, Session, add_agent, login, say, store_of

START = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, inside service hours


async def _team(client: Client) -> dict[str, Session]:
    """Amy and Bob (after-sales), Bill (billing), Sue (supervisor): all offline, so the bot
    opens tickets instead of queueing chats."""
    for name, fields in (
        ("amy", {"skills": ["after_sales"]}),
        ("bob", {"skills": ["after_sales"]}),
        ("bill", {"skills": ["billing"]}),
        ("sue", {"role": "supervisor"}),
    ):
        await add_agent(client, name, status="offline", **fields)
    return {name: await login(client, name) for name in ("amy", "bob", "bill", "sue")}


async def _bot_opens_a_ticket(client: Client, sender: str) -> str:
    replies = await say(client, sender, "转人工")
    text = " ".join(r.get("text") or "" for r in replies)
    assert "工单" in text, replies
    store = store_of(client)
    customer = await store.customers.find("rest", sender)
    assert customer is not None
    (ticket,) = await store.tickets.of_customer(customer.id)
    return ticket.number


async def _json(resp: Any, status: int) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_a_ticket_from_the_bot_to_the_follow_up(make_client: AppFactory) -> None:
    client = await make_client(always_open=True)
    s = await _team(client)
    store = store_of(client)
    number = await _bot_opens_a_ticket(client, "ticket-customer")
    base = f"/api/tickets/{number}"

    # The after-sales queue has it; billing's does not, and Bill may not open it.
    amy_queue = await _json(await client.get("/api/tickets", headers=s["amy"].cookie), 200)
    assert [t["number"] for t in amy_queue["tickets"]] == [number]
    assert amy_queue["tickets"][0]["sla"]["first_response"]["breached"] is False
    bill_queue = await _json(await client.get("/api/tickets", headers=s["bill"].cookie), 200)
    assert bill_queue["tickets"] == []
    assert (await client.get(base, headers=s["bill"].cookie)).status == 403
    assert (await client.post(f"{base}/claim", headers=s["bill"].writes)).status == 403
    assert (await client.get("/api/tickets?view=all", headers=s["amy"].cookie)).status == 403
    assert (await client.get("/api/tickets?view=later", headers=s["amy"].cookie)).status == 400

    # Amy claims it; Bob is too late. Before she holds it she could not update it.
    assert (
        await client.post(f"{base}/updates", headers=s["bob"].writes, json={"text": "hi"})
    ).status == 403
    claimed = await _json(await client.post(f"{base}/claim", headers=s["amy"].writes), 200)
    assert claimed["ticket"]["assigned_to"]["username"] == "amy"
    assert claimed["ticket"]["status"] == "assigned"
    late = await client.post(f"{base}/claim", headers=s["bob"].writes)
    assert late.status == 409 and "claimed by someone else" in (await late.json())["message"]
    mine = await _json(await client.get("/api/tickets?view=mine", headers=s["amy"].cookie), 200)
    assert [t["number"] for t in mine["tickets"]] == [number]
    queue = await _json(await client.get("/api/tickets", headers=s["bob"].cookie), 200)
    assert queue["tickets"] == []  # held: out of the queue

    # A private note stays in the history; an update reaches the customer's conversation.
    await _json(
        await client.post(
            f"{base}/notes", headers=s["amy"].writes, json={"text": "VIP: replace, not repair"}
        ),
        201,
    )
    empty = await client.post(f"{base}/notes", headers=s["amy"].writes, json={"text": " "})
    assert empty.status == 400
    sent = await _json(
        await client.post(
            f"{base}/updates",
            headers=s["amy"].writes,
            json={"text": "新机器已发出，顺丰 SF1234"},
        ),
        201,
    )
    assert sent["ticket"]["status"] == "in_progress"  # worked from its first update
    assert sent["ticket"]["sla"]["first_response"]["done_at"] is not None
    ticket = await store.tickets.get(number)
    assert ticket.conversation_id is not None
    messages = await store.messages.of(ticket.conversation_id)
    update = messages[-1]
    assert update.sender == "agent" and update.payload["ticket"] == number
    assert update.text == f"【工单 {number} 进展】新机器已发出，顺丰 SF1234"
    assert all("VIP" not in m.text for m in messages)

    # Moves follow the workflow: a closed ticket cannot be reopened, a bad status is refused.
    bad = await client.post(f"{base}/status", headers=s["amy"].writes, json={"status": "new"})
    assert bad.status == 409
    assert (
        await client.post(f"{base}/status", headers=s["bob"].writes, json={"status": "resolved"})
    ).status == 403
    waiting = await _json(
        await client.post(
            f"{base}/status",
            headers=s["amy"].writes,
            json={"status": "waiting_customer", "note": "asked for the serial number"},
        ),
        200,
    )
    assert waiting["ticket"]["moves"] == ["in_progress", "resolved", "closed"]
    resolved = await _json(
        await client.post(f"{base}/status", headers=s["amy"].writes, json={"status": "resolved"}),
        200,
    )
    assert resolved["ticket"]["status"] == "resolved"

    # After-sales: the customer was told, then asked to follow up, with a link.
    messages = await store.messages.of(ticket.conversation_id)
    told, asked = messages[-2], messages[-1]
    assert told.payload["event"] == "ticket_resolved" and number in told.text
    assert asked.payload["event"] == "ticket_follow_up" and asked.sender == "bot"
    link = asked.payload["link"]
    assert link.startswith("/tickets/follow-up/")
    token = link.rsplit("/", 1)[1]
    page = await client.get(link)
    assert (
        page.status == 200 and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    )
    state = await _json(await client.get(f"/api/follow-up/{token}"), 200)
    assert state == {
        "ticket": number,
        "subject": "转人工",
        "language": "zh",
        "answered": False,
        "expired": False,
    }
    assert (await client.get(f"/api/follow-up/{'x' * 43}")).status == 404
    wrong = await client.post(f"/api/follow-up/{token}", json={"solved": "yes", "fast_enough": 1})
    assert wrong.status == 400
    answered = await _json(
        await client.post(
            f"/api/follow-up/{token}",
            json={"solved": True, "fast_enough": False, "suggestions": "发货再快一点"},
        ),
        200,
    )
    assert answered["answered"] is True
    again = await client.post(
        f"/api/follow-up/{token}", json={"solved": False, "fast_enough": True}
    )
    assert again.status == 409

    # The answers are on the ticket and in the supervisors' report.
    detail = await _json(await client.get(base, headers=s["amy"].cookie), 200)
    assert detail["ticket"]["follow_up"]["solved"] is True
    assert detail["ticket"]["follow_up"]["suggestions"] == "发货再快一点"
    said = [(m["sender"], m["text"]) for m in detail["ticket"]["conversation"]]
    assert ("agent", f"【工单 {number} 进展】新机器已发出，顺丰 SF1234") in said
    assert said[0] == ("customer", "转人工") and not any("VIP" in text for _, text in said)
    kinds = [e["kind"] for e in detail["ticket"]["history"]]
    assert kinds.count("follow_up") == 2 and "note" in kinds and "update" in kinds
    assert (await client.get("/api/tickets/report", headers=s["amy"].cookie)).status == 403
    report = await _json(await client.get("/api/tickets/report", headers=s["sue"].cookie), 200)
    assert report["follow_ups"]["answered"] == 1 and report["follow_ups"]["solved_share"] == 1.0
    assert report["follow_ups"]["fast_enough_share"] == 0.0
    assert report["follow_ups"]["answers"][0]["suggestions"] == "发货再快一点"
    assert report["totals"]["tickets"] == 1 and report["totals"]["open"] == 0

    # Closed is final.
    await _json(
        await client.post(f"{base}/status", headers=s["amy"].writes, json={"status": "closed"}),
        200,
    )
    closed = await client.post(f"{base}/updates", headers=s["amy"].writes, json={"text": "x"})
    assert closed.status == 409


async def test_unresolved_tickets_escalate_and_breaches_are_reported(
    make_client: AppFactory,
) -> None:
    clock = SimulatedClock(START)
    with use_clock(clock):
        # The app's own sweeper waits an hour between sweeps: this test sweeps by hand.
        client = await make_client(
            always_open=True,
            edit=lambda raw: raw["tickets"].update(sweep_interval_seconds=3600),
        )
        s = await _team(client)
        number = await _bot_opens_a_ticket(client, "waiting-customer")
        desk = client.app[CONSOLE].tickets
        sweeper = TicketSweeper(desk, 3600)
        clock.advance(9 * 60)
        assert (await sweeper.sweep()).escalated == []
        clock.advance(2 * 60)  # 11 minutes unresolved: tier 2
        assert (await sweeper.sweep()).escalated == [number]
        assert (await sweeper.sweep()).escalated == []  # once
        ticket = await store_of(client).tickets.get(number)
        assert ticket.tier == 2 and ticket.history[-1].note == "unresolved after 10 min"

        alerts = await _json(await client.get("/api/tickets/alerts", headers=s["sue"].cookie), 200)
        assert alerts["unread"] == 1 and alerts["alerts"][0]["ticket_number"] == number
        amy = await _json(await client.get("/api/tickets/alerts", headers=s["amy"].cookie), 200)
        assert amy["alerts"] == []  # supervisors are told, not the team
        read = await client.post("/api/tickets/alerts/read", headers=s["sue"].writes)
        assert (await read.json())["marked"] == 1
        tier2 = await _json(
            await client.get("/api/tickets?view=all&tier=2", headers=s["sue"].cookie), 200
        )
        assert [t["number"] for t in tier2["tickets"]] == [number]

        # A supervisor hands it to Amy; 3 hours in, the 2-hour first response is breached.
        await _json(
            await client.post(
                f"/api/tickets/{number}/assign", headers=s["sue"].writes, json={"username": "amy"}
            ),
            200,
        )
        again = await client.post(f"/api/tickets/{number}/escalate", headers=s["amy"].writes)
        assert again.status == 409  # tier 2 already
        clock.advance(3 * 3600)
        report = await _json(await client.get("/api/tickets/report", headers=s["sue"].cookie), 200)
        assert report["totals"]["first_response_breaches"] == 1
        assert report["totals"]["resolution_breaches"] == 0 and report["totals"]["tier2"] == 1
        (overdue,) = report["overdue"]
        assert overdue["number"] == number and overdue["overdue_s"] > 3600
        # Answering late ends the clock but the breach stays a breach.
        await client.post(
            f"/api/tickets/{number}/updates", headers=s["amy"].writes, json={"text": "sorry"}
        )
        later = await _json(await client.get("/api/tickets/report", headers=s["sue"].cookie), 200)
        assert later["totals"]["first_response_breaches"] == 1 and later["overdue"] == []
        # A day later the resolution clock (24 h) is breached too.
        clock.advance(24 * 3600)
        sue = await login(client, "sue")  # a console session lasts 12 hours
        last = await _json(await client.get("/api/tickets/report", headers=sue.cookie), 200)
        assert last["totals"]["resolution_breaches"] == 1


async def test_an_update_on_a_pushed_channel_enters_the_delivery_ledger(
    make_client: AppFactory,
) -> None:
    """A Telegram or WeChat customer's update is pushed by the outbox from the ledger; on
    WeChat outside the window it is the kind the `ticket_update` template carries."""
    client = await make_client(always_open=True)
    s = await _team(client)
    store = store_of(client)
    customer = await store.customers.for_identity("wechat", "openid-ticket")
    conv = await store.conversations.active(customer.id, "wechat")
    ticket = await store.tickets.create(
        customer.id, "维修进度", conversation_id=conv.id, skill_group="after_sales"
    )
    await _json(
        await client.post(f"/api/tickets/{ticket.number}/claim", headers=s["amy"].writes), 200
    )
    sent = await _json(
        await client.post(
            f"/api/tickets/{ticket.number}/updates",
            headers=s["amy"].writes,
            json={"text": "配件已到，明天修好"},
        ),
        201,
    )
    assert "wechat" in PUSHED_CHANNELS and sent["message"]["channel"] == "wechat"
    states = await store.deliveries.states(conv.id)
    assert states[sent["message"]["id"]].status == "pending"
    (message,) = [m for m in await store.messages.of(conv.id) if m.id == sent["message"]["id"]]
    templates = Templates.model_validate(
        {"ticket_update": {"template_id": "t1", "fields": {"first": "{ticket}: {text}"}}}
    )
    kind, _ = templates.for_message(message.sender, message.payload) or ("", None)
    assert kind == "ticket_update"


async def test_agents_open_tickets_for_known_customers_only(make_client: AppFactory) -> None:
    client = await make_client(always_open=True)
    s = await _team(client)
    customer = await store_of(client).customers.for_identity("rest", "phoned-in")
    bad = [
        ({"customer_id": "nobody", "subject": "x"}, 404),
        ({"customer_id": customer.id, "subject": " "}, 400),
        ({"customer_id": customer.id, "subject": "x", "skill_group": "nope"}, 400),
        ({"customer_id": customer.id, "subject": "x", "extra": 1}, 400),
        ({"customer_id": customer.id, "subject": "x" * 501}, 400),
    ]
    for body, status in bad:
        resp = await client.post("/api/tickets", headers=s["bill"].writes, json=body)
        assert resp.status == status, (body, await resp.text())
    made = await _json(
        await client.post(
            "/api/tickets",
            headers=s["bill"].writes,
            json={
                "customer_id": customer.id,
                "subject": "refund through the bank",
                "skill_group": "billing",
                "cross_department": True,
            },
        ),
        201,
    )
    t = made["ticket"]
    assert t["skill_group"] == "billing" and t["cross_department"] is True
    opened = datetime.fromisoformat(t["created_at"])
    due = datetime.fromisoformat(t["sla"]["resolution"]["due_at"])
    assert due - opened == timedelta(hours=48)
    # Moving it to another group puts it in that group's queue, nobody's.
    await _json(
        await client.post(f"/api/tickets/{t['number']}/claim", headers=s["bill"].writes), 200
    )
    moved = await _json(
        await client.post(
            f"/api/tickets/{t['number']}/details",
            headers=s["bill"].writes,
            json={"skill_group": "after_sales"},
        ),
        200,
    )
    assert moved["ticket"]["assigned_to"] is None and moved["ticket"]["status"] == "new"
    amy = await _json(await client.get("/api/tickets", headers=s["amy"].cookie), 200)
    assert [x["number"] for x in amy["tickets"]] == [t["number"]]
    assert client.app[CONTEXT].store is store_of(client)
