"""The bot follows the conversation, not one message at a time: its language, the customer's
mood, what they named before, messages that are not text, commands, and handoffs that say one
thing (issue 16). On the real engine, NLU model and sample knowledge base."""

from __future__ import annotations

from bot.dialogue.engine import DialogueEngine, TurnResult
from bot.nlu.language import detect
from bot.pipeline_config.params import LanguageDetectorParams
from handoff.service import HandoffService

LANG = LanguageDetectorParams()


def reply_language(r: TurnResult) -> str:
    text = " ".join(x.text for x in r.replies)
    found = detect(text, LANG)
    return "zh" if found == "mixed" else found


async def test_a_chinese_chat_stays_chinese_for_numbers_stickers_commands_and_off_topic_english(
    engine: DialogueEngine,
) -> None:
    first = await engine.handle("rest", "lang1", "你好，我想查一下我的订单")
    assert first.language == "zh"
    for text in ("202611180042", "[sticker]", "👍", "/help", "ok", "what's the capital of France?"):
        r = await engine.handle("rest", "lang1", text)
        assert r.language == "zh" and reply_language(r) == "zh", text


async def test_a_clear_question_in_the_other_language_switches_it(engine: DialogueEngine) -> None:
    await engine.handle("rest", "lang2", "你好")
    r = await engine.handle("rest", "lang2", "How long does a refund take to reach my card?")
    assert r.language == "en" and reply_language(r) == "en"
    again = await engine.handle("rest", "lang2", "202611180042")
    assert again.language == "en"


async def test_the_channels_language_holds_until_the_customer_writes_clearly(
    engine: DialogueEngine,
) -> None:
    r = await engine.handle("rest", "lang3", "202611180042", language_hint="en-US")
    assert r.language == "en" and reply_language(r) == "en"
    zh = await engine.handle("rest", "lang4", "[photo]", language_hint="zh-hans")
    assert zh.language == "zh" and reply_language(zh) == "zh"


async def test_a_neutral_question_gets_no_apology(engine: DialogueEngine) -> None:
    for sender, text in (("e1", "七天无理由退货怎么弄"), ("e2", "how do refunds work?")):
        r = await engine.handle("rest", sender, text)
        assert not r.empathetic, text
        assert not any("抱歉" in x.text or "sorry" in x.text.lower() for x in r.replies), text


async def test_an_upset_customer_hears_one_apology_not_one_per_message(
    engine: DialogueEngine,
) -> None:
    first = await engine.handle("rest", "e3", "气死我了！快递丢了三天都没人管，太离谱了！")
    assert first.empathetic
    second = await engine.handle("rest", "e3", "你们到底管不管？太差劲了！")
    assert not second.empathetic


async def test_stickers_and_photos_are_acknowledged_and_never_failed_turns(
    engine: DialogueEngine,
) -> None:
    await engine.handle("rest", "nt1", "你好")
    for marker in ("[sticker]", "[sticker]", "[sticker]", "[photo]", "[voice]", "[location]"):
        r = await engine.handle("rest", "nt1", marker)
        assert not r.failed and r.failed_turns == 0 and r.handoff is None, marker
        assert r.status == "bot" and r.replies and reply_language(r) == "zh", marker


async def test_a_photo_with_a_caption_is_answered_as_its_caption(engine: DialogueEngine) -> None:
    r = await engine.handle("rest", "nt2", "[photo] 退款多久能到账")
    assert r.kb_article is not None and r.kb_article["id"].startswith("after-sales/refunds")


async def test_commands_work_in_both_languages(engine: DialogueEngine) -> None:
    helped = await engine.handle("rest", "c1", "/help")
    assert "/human" in helped.replies[0].text and not helped.failed
    words = await engine.handle("rest", "c2", "帮助")
    assert "转人工" in words.replies[0].text
    human = await engine.handle("rest", "c3", "/human")
    assert human.handoff is not None and human.handoff.reason == "explicit_request"
    start = await engine.handle("rest", "c4", "/start")
    assert start.intent == "greet" and "风筝数码" in start.replies[0].text


async def test_a_follow_up_keeps_the_order_the_customer_named(engine: DialogueEngine) -> None:
    first = await engine.handle("rest", "ctx1", "订单 202611180042 到哪了")
    assert first.intent == "order_status" and "202611180042" in first.replies[0].text
    again = await engine.handle("rest", "ctx1", "现在到哪了？")
    assert again.intent == "order_status"
    assert "SF1402336851" in again.replies[0].text  # the same order's tracking number
    assert "顺丰速运" in again.replies[0].text  # the courier as Chinese customers know it


async def test_a_follow_up_question_is_searched_with_the_product_named_before(
    engine: DialogueEngine,
) -> None:
    await engine.handle("rest", "ctx2", "Does the Kite Watch 3 support eSIM?")
    conv = await engine.store.conversations.latest(
        (await engine.store.customers.for_identity("rest", "ctx2")).id, "rest"
    )
    assert conv is not None and conv.state["context"]["product"] == "Kite Watch 3"
    r = await engine.handle("rest", "ctx2", "can I return it?")
    state = (await engine.store.conversations.get(conv.id)).state
    hits = [h["title"] for h in state["suggestions"]]
    assert r.kb_article is not None or r.extra.get("kb_choices"), hits
    state = (await engine.store.conversations.get(conv.id)).state
    assert state["context"]["product"] == "Kite Watch 3"


async def test_nobody_online_opens_a_ticket_and_the_bot_keeps_the_chat(
    engine: DialogueEngine,
) -> None:
    r = await engine.handle("rest", "t1", "转人工")
    assert r.handoff is not None and r.handoff.ticket is not None
    assert r.status == "bot" and len(r.replies) == 1
    assert r.handoff.ticket in r.replies[0].text and "在这个对话里回复您" in r.replies[0].text
    assert await engine.store.handoffs.views(statuses=("queued", "pending")) == []
    customer = await engine.store.customers.for_identity("rest", "t1")
    conv = await engine.store.conversations.latest(customer.id, "rest")
    assert conv is not None and conv.state["ticket"]["number"] == r.handoff.ticket
    after = await engine.handle("rest", "t1", "满多少包邮")  # the bot still answers
    assert after.replies and after.status == "bot"


async def test_a_complaint_overflows_to_the_default_group_when_its_own_is_empty(
    engine: DialogueEngine,
) -> None:
    await engine.store.agents.add("ann", "Ann", skills=["after_sales"], status="online")
    r = await engine.handle("rest", "t2", "你们的服务太差了，我要投诉！")
    assert r.handoff is not None and r.handoff.reason == "complaint"
    assert r.handoff.skill_group == "after_sales" and r.handoff.ticket is None
    assert r.status == "queued" and "排在第 1 位" in r.replies[-1].text
    assert not any("工单" in x.text for x in r.replies)


async def test_agents_get_suggestions_on_every_customer_message(engine: DialogueEngine) -> None:
    await engine.store.agents.add("bea", "Bea", skills=["after_sales"], status="online")
    queued = await engine.handle("rest", "s1", "转人工")
    assert queued.status == "queued"
    quiet = await engine.handle("rest", "s1", "退款多久能到账")
    assert quiet.replies == ()
    conv = await engine.store.conversations.get(quiet.conversation_id)
    titles = [h["id"] for h in conv.state["suggestions"]]
    assert titles and titles[0].startswith("after-sales/refunds")


async def test_a_transfer_names_the_group_as_customers_read_it(engine: DialogueEngine) -> None:
    await engine.store.agents.add("cy", "Cy", skills=["after_sales"], status="online")
    r = await engine.handle("rest", "tr1", "转人工")
    service = HandoffService(
        engine.store, engine.responses, skill_groups=engine.router.settings.skill_groups
    )
    await service.claim(r.conversation_id, "cy")
    await service.transfer(r.conversation_id, "billing")
    stored = await engine.store.messages.of(r.conversation_id)
    notes = [m.text for m in stored if m.sender == "system"]
    assert any("支付与账单" in n for n in notes) and not any("billing" in n for n in notes)


async def test_asking_again_while_a_ticket_is_open_opens_no_second_one(
    engine: DialogueEngine,
) -> None:
    first = await engine.handle("rest", "t3", "转人工")
    again = await engine.handle("rest", "t3", "我要人工客服")
    assert first.handoff is not None and first.handoff.ticket is not None
    assert again.handoff is None and again.status == "bot"  # no new handoff: the promise again
    assert first.handoff.ticket in again.replies[-1].text
    assert "已经在处理中" in again.replies[-1].text
    customer = await engine.store.customers.for_identity("rest", "t3")
    assert len(await engine.store.tickets.of_customer(customer.id)) == 1


async def test_an_upset_customer_disputing_a_delivered_order_is_handed_to_a_person(
    engine: DialogueEngine,
) -> None:
    # 202611200317 is delivered in the sample orders; the customer says it never came.
    r = await engine.handle("rest", "disp1", "订单202611200317显示已经签收了，可是我一直没收到货")
    assert r.empathetic and r.handoff is not None and r.handoff.reason == "order_dispute"
    calm = await engine.handle("rest", "disp2", "查一下订单202611200317")
    assert calm.handoff is None and not calm.empathetic


async def test_a_customer_standing_by_a_number_the_bot_cannot_find_is_handed_over(
    engine: DialogueEngine,
) -> None:
    missing = await engine.handle("rest", "nf1", "where is order 202611159999")
    assert missing.failed and missing.handoff is None
    r = await engine.handle("rest", "nf1", "/affirm")  # "yes, that's the number"
    assert r.handoff is not None and r.handoff.reason == "not_found"


async def test_an_order_number_the_nlu_cannot_place_is_looked_up(engine: DialogueEngine) -> None:
    missing = await engine.handle("rest", "nf2", "where is order 202611159999")
    assert missing.failed
    fixed = await engine.handle("rest", "nf2", "sorry typo, its 202611180042")
    assert not fixed.failed and fixed.handoff is None
    assert "202611180042" in fixed.replies[-1].text and fixed.intent == "order_status"
    bare = await engine.handle("rest", "nf3", "202611180042")
    assert not bare.failed and "202611180042" in bare.replies[-1].text
