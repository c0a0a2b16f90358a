"""How a message is read before the NLU: its kind, its language as evidence, and what a
follow-up leaves out."""

from __future__ import annotations

import pytest

from bot.dialogue.context import Context, read, update
from bot.dialogue.conversation_language import clear_language, hint_language, next_language
from bot.dialogue.inbound import media_marker, read_inbound


@pytest.mark.parametrize(
    ("text", "kind", "media", "said"),
    [
        ("[sticker]", "media", "sticker", ""),
        ("[photo] the box was crushed", "media", "image", "the box was crushed"),
        ("[image]", "media", "image", ""),
        ("[voice]", "media", "voice", ""),
        ("👍👍", "media", "sticker", ""),
        ("？？？", "media", "sticker", ""),
        ("202611180042", "text", None, "202611180042"),
        ("[not-a-kind] hi", "text", None, "[not-a-kind] hi"),
        ("退货怎么弄", "text", None, "退货怎么弄"),
    ],
)
def test_the_kind_of_a_message(text: str, kind: str, media: str | None, said: str) -> None:
    m = read_inbound(text)
    assert (m.kind, m.media, m.text) == (kind, media, said)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/help", "help"),
        ("/help@KiteBot", "help"),
        ("/start", "start"),
        ("/greet", "start"),
        ("/human", "human"),
        ("帮助", "help"),
        ("转人工！", "human"),
        ("Help", "help"),
    ],
)
def test_commands_and_their_words(text: str, command: str) -> None:
    assert read_inbound(text).command == command


def test_a_marker_round_trips() -> None:
    assert read_inbound(media_marker("photo", " crushed ")).text == "crushed"
    assert media_marker("sticker") == "[sticker]"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("退货怎么弄", "zh"),
        ("Kite Watch 3 支持 eSIM 吗", "zh"),
        ("how do refunds work", "en"),
        ("ok", None),
        ("202611180042", None),
        ("👍", None),
        ("/help", None),
        ("好", None),
    ],
)
def test_what_counts_as_clear_evidence_of_a_language(text: str, language: str | None) -> None:
    assert clear_language(text) == language


def test_the_conversation_language_changes_only_on_clear_evidence() -> None:
    def step(current: str | None, clear: str | None, **kw: object) -> str:
        args = {"in_domain": True, "previous_clear": None, "hint": None, "default": "zh"}
        args.update(kw)
        return next_language(current, clear, **args)  # type: ignore[arg-type]

    assert step(None, None, hint="en-GB") == "en"  # the channel's hint first
    assert step(None, "zh", hint="en-GB") == "zh"  # then the customer's own words
    assert step("zh", None) == "zh"  # a number, an emoji: no change
    assert step("zh", "en", in_domain=False) == "zh"  # one off-topic English line
    assert step("zh", "en", in_domain=False, previous_clear="en") == "en"  # two in a row
    assert step("zh", "en", in_domain=True) == "en"  # a clear request in English
    assert hint_language("zh_CN") == "zh" and hint_language("fr") is None


def test_a_pronoun_brings_back_the_product_and_an_ellipsis_the_question() -> None:
    ctx = Context(product="Kite Watch 3", question="Does the Kite X5 support eSIM?")
    it = read("can I return it?", {}, ctx)
    assert it.follow_up and it.search_text == "can I return it? Kite Watch 3"
    pro = read("and for the Pro?", {}, ctx)
    assert pro.ellipsis and pro.search_text == "Does the Kite X5 support eSIM? Pro"
    zh = read("那 Pro 呢？", {}, ctx)
    assert zh.ellipsis and zh.search_text.endswith("Pro")
    fresh = read("how do I pay with Alipay", {}, ctx)
    assert not fresh.follow_up and fresh.search_text == "how do I pay with Alipay"


def test_a_new_topic_forgets_the_product() -> None:
    ctx = Context(
        product="Kite Watch 3", question="does it support eSIM", intent="question_product"
    )
    fresh = read("how do I pay with Alipay", {}, ctx)
    after = update(ctx, entities={}, reading=fresh, intent="question_payment", question=True)
    assert after.product is None and after.intent == "question_payment"
    follow = read("can I return it?", {}, ctx)
    kept = update(ctx, entities={}, reading=follow, intent="question_returns", question=True)
    assert kept.product == "Kite Watch 3"
    named = update(
        ctx, entities={"order_id": "202611180042"}, reading=fresh, intent="x", question=False
    )
    assert named.order_id == "202611180042" and named.product == "Kite Watch 3"


def test_a_product_on_its_own_continues_the_last_question_about_it() -> None:
    ctx = Context(
        product="Kite X5", question="Kite X5 屏幕碎了 换屏多少钱", intent="question_product"
    )
    named = read("X5 Pro的", {"product": "Kite X5 Pro"}, ctx)
    assert named.ellipsis and named.search_text == "Kite X5 Pro 屏幕碎了 换屏多少钱"
    longer = read("Kite X5 Pro 的电池容量是多少毫安", {"product": "Kite X5 Pro"}, ctx)
    assert not longer.ellipsis and longer.search_text.startswith("Kite X5 Pro 的电池")
