"""Whole turns through the real engine: real NLU model, knowledge base, store and templates."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.dialogue.engine import DialogueEngine

# Inside the skill groups' service hours (09:00-21:00 Shanghai), whatever the machine's clock.
NIGHT = datetime(2026, 11, 24, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


async def test_a_greeting_follows_the_service_standard(engine: DialogueEngine) -> None:
    r = await engine.handle("rest", "u1", "你好")
    assert r.intent == "greet" and r.status == "bot"
    assert "风筝数码" in r.replies[0].text and r.replies[0].buttons


async def test_a_question_is_answered_from_the_knowledge_base_with_its_citation(
    engine: DialogueEngine,
) -> None:
    r = await engine.handle("rest", "u2", "满多少钱包邮啊")
    assert r.kb_article == {"id": "service/shipping/free-shipping", "version": 1}
    assert "99" in r.replies[-1].text
    stored = await engine.store.messages.of(r.conversation_id)
    assert stored[0].sender == "customer" and stored[0].parse is not None
    bot = [msg for msg in stored if msg.kb_article_id]
    assert (bot[0].kb_article_id, bot[0].kb_article_version) == (
        "service/shipping/free-shipping",
        1,
    )


async def test_the_third_failed_turn_escalates_and_the_second_does_not(
    engine: DialogueEngine,
) -> None:
    first = await engine.handle("rest", "u3", "今天天气怎么样")
    second = await engine.handle("rest", "u3", "给我讲个笑话吧")
    assert (first.failed_turns, second.failed_turns) == (1, 2)
    assert second.handoff is None and second.status == "bot"
    third = await engine.handle("rest", "u3", "你喜欢什么电影")
    assert third.handoff is not None and third.handoff.reason == "failed_turns"
    # Nobody is online: a ticket, and the bot keeps the chat (not a queue nobody works).
    assert third.handoff.ticket is not None and third.status == "bot"
    assert third.failed_turns == 0


async def test_an_explicit_request_escalates_at_once_and_opens_a_ticket_when_nobody_is_online(
    engine: DialogueEngine,
) -> None:
    r = await engine.handle("rest", "u4", "转人工")
    assert r.handoff is not None and r.handoff.reason == "explicit_request"
    assert r.handoff.ticket is not None and r.handoff.ticket in r.replies[-1].text
    ticket = await engine.store.tickets.get(r.handoff.ticket)
    assert ticket.due_at is not None


async def test_with_an_agent_online_the_customer_is_told_their_position(
    engine: DialogueEngine,
) -> None:
    await engine.store.agents.add(
        "amy", "Amy", skills=["after_sales"], languages=["en", "zh"], status="online"
    )
    r = await engine.handle("rest", "u5", "agent please")
    assert r.handoff is not None and r.handoff.position == 1 and r.handoff.ticket is None
    assert "number 1" in r.replies[-1].text
    # While queued the bot listens but does not answer.
    quiet = await engine.handle("rest", "u5", "hello? anyone?")
    assert quiet.replies == () and quiet.status == "queued"
    stored = await engine.store.messages.of(r.conversation_id)
    assert stored[-1].text == "hello? anyone?" and stored[-1].parse is not None


async def test_a_complaint_goes_to_the_complaints_group_after_empathy(
    engine: DialogueEngine,
) -> None:
    r = await engine.handle("rest", "u6", "你们的服务太差了，我要投诉！")
    assert r.handoff is not None and r.handoff.skill_group == "complaints"
    assert r.handoff.reason == "complaint"


async def test_order_status_asks_for_the_number_then_answers(engine: DialogueEngine) -> None:
    ask = await engine.handle("rest", "u7", "where is my order")
    assert "12 digits" in ask.replies[-1].text
    answer = await engine.handle("rest", "u7", "202611180042")
    assert "SF1402336851" in answer.replies[-1].text
    assert answer.failed_turns == 0


async def test_ticket_status_reads_the_ticket_store(engine: DialogueEngine) -> None:
    customer = await engine.store.customers.for_identity("rest", "u8")
    ticket = await engine.store.tickets.create(customer.id, "屏幕闪烁")
    r = await engine.handle("rest", "u8", f"工单{ticket.number}现在什么进度")
    assert ticket.number in r.replies[-1].text and "屏幕闪烁" in r.replies[-1].text
    # The status in the customer's words, not the console's code.
    await engine.store.tickets.set_status(ticket.number, "in_progress", actor="amy")
    r = await engine.handle("rest", "u8", f"工单{ticket.number}现在什么进度")
    assert "处理中" in r.replies[-1].text and "in_progress" not in r.replies[-1].text


async def test_a_redelivered_message_is_processed_once(engine: DialogueEngine) -> None:
    first = await engine.handle("rest", "u9", "hi", external_id="m-1")
    again = await engine.handle("rest", "u9", "hi", external_id="m-1")
    assert first.replies and again.duplicate and again.replies == ()
    assert (
        len(
            [
                m
                for m in await engine.store.messages.of(first.conversation_id)
                if m.sender == "customer"
            ]
        )
        == 1
    )


async def test_a_button_payload_is_understood_without_the_nlu(engine: DialogueEngine) -> None:
    r = await engine.handle("rest", "u10", "/request_human")
    assert r.intent == "request_human" and r.handoff is not None


async def test_outside_service_hours_a_ticket_is_opened_even_with_agents_online(
    engine: DialogueEngine,
) -> None:
    await engine.store.agents.add(
        "bo", "Bo", skills=["after_sales"], languages=["zh", "en"], status="online"
    )
    engine.clock = lambda: NIGHT
    r = await engine.handle("rest", "u11", "我要人工客服")
    assert r.handoff is not None and r.handoff.ticket is not None
    assert "09:00-21:00" in r.replies[-1].text
    # 23:30 is after hours: the 2-hour promise runs from the 09:00 opening next morning.
    assert "11-25 11:00" in r.replies[-1].text


async def test_auto_assignment_picks_the_least_loaded_eligible_agent(
    engine: DialogueEngine,
) -> None:
    busy = await engine.store.agents.add(
        "busy", "Busy", skills=["after_sales"], status="online", max_concurrent=2
    )
    await engine.store.agents.add(
        "idle", "Idle", skills=["after_sales"], status="online", max_concurrent=2
    )
    await engine.store.agents.add("away", "Away", skills=["after_sales"], status="away")
    await engine.store.agents.add("billing", "Bill", skills=["billing"], status="online")
    first = await engine.handle("rest", "a1", "agent please")
    assert first.handoff is not None and first.handoff.position is not None
    h = await engine.store.handoffs.active(first.conversation_id)
    assert h is not None and await engine.store.handoffs.assign(h.id, busy.id)
    engine.auto_assign = True
    second = await engine.handle("rest", "a2", "转人工")
    assert second.status == "assigned" and second.handoff is not None
    assert second.handoff.assigned_to == "idle"
    assert "Idle" in second.replies[-1].text


async def test_keyed_locks_serialise_one_key_and_forget_it_when_free() -> None:
    from bot.coordination import KeyedLocks

    locks = KeyedLocks()
    order: list[str] = []

    async def turn(key: str, name: str, pause: float) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            await asyncio.sleep(pause)
            order.append(f"{name} out")

    await asyncio.gather(turn("a", "a1", 0.02), turn("a", "a2", 0), turn("b", "b1", 0))
    # a2 waited for a1; b1 did not wait for either.
    assert order.index("a1 out") < order.index("a2 in")
    assert order.index("b1 in") < order.index("a1 out")
    assert len(locks) == 0
