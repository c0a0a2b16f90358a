"""Opting out of proactive messages (issue 21, D7): "退订", "取消订阅", "stop", "unsubscribe" (the
whole message, any case, punctuation around it ignored) or the /opt_out button, on every channel
the dialogue serves, is recorded in the store and confirmed in the customer's language; it is
neither a failed turn nor a handoff. A sentence that merely contains "stop" is read by the NLU as
before."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.dialogue.engine import DialogueEngine
from bot.dialogue.inbound import OptOutWords, bare_word, read_inbound
from bot.knowledge.base import KnowledgeBase
from bot.nlu.pipeline import NLUPipeline
from bot.store.sql_store import SqlStore
from connectors.wechat.menu import MenuButton
from tests.bot.dialogue.conftest import OPEN_HOURS, build_engine

CHANNELS = ["web", "telegram", "wechat", "rest"]
ZH_CONFIRM = "已退订"
EN_CONFIRM = "unsubscribed"


# -- reading the message -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("退订", "zh"),
        (" 退订。", "zh"),
        ("取消订阅！", "zh"),
        ("stop", "en"),
        ("STOP", "en"),
        ("Stop!", "en"),
        ("  unsubscribe. ", "en"),
        ("Unsubscribe", "en"),
        ("「退订」", "zh"),
    ],
)
def test_an_opt_out_word_alone_is_an_opt_out_in_its_language(text: str, language: str) -> None:
    m = read_inbound(text)
    assert (m.kind, m.command, m.language) == ("command", "opt_out", language)


@pytest.mark.parametrize("text", ["/opt_out", "/OPT_OUT", "/opt_out@KiteBot", " /opt_out "])
def test_the_button_payload_is_an_opt_out(text: str) -> None:
    m = read_inbound(text)
    assert (m.command, m.language) == ("opt_out", None)


@pytest.mark.parametrize(
    "text",
    [
        "stop the bot, give me a person",  # nlu_data/en/nlu.yml: request_human
        "stop, human agent",  # nlu_data/en/coverage.yml: request_human
        "please stop",
        "stop sending me messages about my order 202611180042",
        "how do I unsubscribe from the newsletter?",
        "退订怎么操作",
        "我想退订会员",
        "/opt_out please",
        "s-t-o-p",
        "stopp",
    ],
)
def test_a_sentence_containing_an_opt_out_word_is_not_an_opt_out(text: str) -> None:
    assert read_inbound(text).command != "opt_out"


def test_the_configured_words_replace_the_defaults() -> None:
    words = OptOutWords.of({"zh": ["别再发了"], "en": ["No more"]})
    assert read_inbound("no more!", words).command == "opt_out"
    assert read_inbound("别再发了", words).language == "zh"
    assert read_inbound("stop", words).command != "opt_out"
    assert read_inbound("/opt_out", words).command == "opt_out"  # the button always works


def test_a_bare_word_is_trimmed_of_spaces_and_punctuation_and_case_folded() -> None:
    assert bare_word(" \u3000STOP!!! ") == "stop"
    assert bare_word("…退订？") == "退订"
    assert bare_word("st op") == "st op"  # inside the message nothing is removed


def test_a_wechat_menu_button_can_carry_the_opt_out() -> None:
    button = MenuButton(name="退订", key="OPT_OUT", intent="opt_out")
    assert read_inbound(button.action()).command == "opt_out"


# -- whole turns ---------------------------------------------------------------------------------
async def _opted_out(engine: DialogueEngine, customer_id: str) -> tuple[str, str] | None:
    found = await engine.store.opt_outs.opt_out_of(customer_id)
    return None if found is None else (found[0], found[1])


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_chinese_opt_out_word_is_recorded_and_confirmed_in_chinese(
    engine: DialogueEngine, channel: str
) -> None:
    r = await engine.handle(channel, f"{channel}-zh", "退订")
    assert r.intent == "opt_out" and r.status == "bot" and r.handoff is None
    assert r.failed_turns == 0 and not r.failed
    assert len(r.replies) == 1 and ZH_CONFIRM in r.replies[0].text
    assert await _opted_out(engine, r.customer_id) == (channel, "word")


@pytest.mark.parametrize("channel", CHANNELS)
async def test_an_english_opt_out_word_is_recorded_and_confirmed_in_english(
    engine: DialogueEngine, channel: str
) -> None:
    # The conversation was in Chinese; the customer wrote the English word: the answer is English.
    await engine.handle(channel, f"{channel}-en", "你好")
    r = await engine.handle(channel, f"{channel}-en", "STOP")
    assert r.intent == "opt_out" and r.handoff is None
    assert EN_CONFIRM in r.replies[0].text
    assert await _opted_out(engine, r.customer_id) == (channel, "word")


@pytest.mark.parametrize("channel", CHANNELS)
async def test_the_button_is_recorded_and_confirmed_in_the_conversations_language(
    engine: DialogueEngine, channel: str
) -> None:
    hello = await engine.handle(channel, f"{channel}-btn", "hello, where is my parcel?")
    assert hello.language == "en"
    r = await engine.handle(channel, f"{channel}-btn", "/opt_out")
    assert r.intent == "opt_out" and r.handoff is None
    assert EN_CONFIRM in r.replies[0].text
    assert await _opted_out(engine, r.customer_id) == (channel, "button")


async def test_a_sentence_with_stop_is_not_an_opt_out(engine: DialogueEngine) -> None:
    r = await engine.handle("web", "w-sentence", "stop the bot, give me a person")
    assert r.intent != "opt_out"
    assert await _opted_out(engine, r.customer_id) is None
    r = await engine.handle("telegram", "t-sentence", "我想退订会员怎么弄")
    assert r.intent != "opt_out"
    assert await _opted_out(engine, r.customer_id) is None


async def test_an_opt_out_after_failed_turns_neither_counts_nor_hands_over(
    engine: DialogueEngine,
) -> None:
    first = await engine.handle("rest", "f1", "今天天气怎么样")
    second = await engine.handle("rest", "f1", "给我讲个笑话吧")
    assert (first.failed_turns, second.failed_turns) == (1, 2)
    r = await engine.handle("rest", "f1", "退订")
    assert r.failed_turns == 2 and not r.failed and r.handoff is None and r.status == "bot"
    assert ZH_CONFIRM in r.replies[0].text
    again = await engine.handle("rest", "f1", "退订!")  # said twice: recorded once, confirmed again
    assert again.handoff is None and again.failed_turns == 2
    assert await _opted_out(engine, r.customer_id) == ("rest", "word")


async def test_an_opt_out_while_an_agent_holds_the_chat_is_recorded_and_the_bot_stays_silent(
    engine: DialogueEngine,
) -> None:
    await engine.store.agents.add(
        "amy", "Amy", skills=["after_sales"], languages=["en", "zh"], status="online"
    )
    queued = await engine.handle("web", "held", "agent please")
    assert queued.status == "queued"
    r = await engine.handle("web", "held", "unsubscribe")
    assert r.replies == () and r.status == "queued" and r.intent == "opt_out"
    assert await _opted_out(engine, r.customer_id) == ("web", "word")


async def test_the_engine_reads_the_configured_words(
    tmp_path: Path, trained: NLUPipeline, kb: KnowledgeBase
) -> None:
    store = await SqlStore.open("sqlite:///var/relaydesk.db", base_dir=tmp_path)
    try:
        engine = build_engine(
            store,
            trained,
            kb,
            tmp_path,
            clock=lambda: OPEN_HOURS,
            opt_out_words={"zh": ["别再发了"], "en": ["no more"]},
        )
        r = await engine.handle("telegram", "cfg", "No more.")
        assert r.intent == "opt_out" and EN_CONFIRM in r.replies[0].text
        assert await _opted_out(engine, r.customer_id) == ("telegram", "word")
        other = await engine.handle("telegram", "cfg2", "stop")
        assert other.intent != "opt_out"
        assert await _opted_out(engine, other.customer_id) is None
    finally:
        await store.close()
