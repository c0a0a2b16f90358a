"""Custom actions on a real Rasa action server: the `rasa-sdk` package in its own environment
(`make rasa-sdk-env` builds .venv-rasa-sdk), running an unchanged rasa_sdk actions file
(action_server/actions.py), started by this module (tests/kit/action_server.py). Without that
environment the tests skip, saying so; under CI=true they fail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import config_from_dict
from bot.config.integrations import ActionServer
from bot.dialogue.actions import ActionServerClient, CustomActions
from bot.dialogue.actions_rules import load_rules
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.responses import Responses
from bot.errors import ConfigError
from bot.knowledge.base import KnowledgeBase
from bot.nlu.pipeline import NLUPipeline
from bot.store.sql_store import SqlStore
from tests.bot.dialogue.conftest import OPEN_HOURS, build_engine
from tests.conftest import REPO
from tests.kit.action_server import running_action_server
from tests.kit.processes import free_port

HERE = Path(__file__).parent / "action_server"
RESPONSES = Responses.load(REPO / "responses.yml", seed=0)


@pytest.fixture(scope="module")
def action_server() -> Iterator[str]:
    """The real rasa_sdk server with action_server/actions.py; its /webhook URL."""
    with running_action_server() as url:
        yield url


def said(responses: Responses, name: str) -> set[str]:
    """Every variation of a response, in both languages."""
    return {v["text"] for by_lang in responses.templates[name].values() for v in by_lang}


def custom_actions(url: str, **settings: Any) -> CustomActions:
    rules = load_rules(HERE / "rules.yml", set(RESPONSES.templates))
    client = ActionServerClient(ActionServer.model_validate({"url": url, **settings}))
    return CustomActions(rules, client, RESPONSES)


@pytest.fixture
async def engine(
    tmp_path: Path, trained: NLUPipeline, kb: KnowledgeBase, action_server: str
) -> AsyncIterator[DialogueEngine]:
    store = await SqlStore.open("sqlite:///var/relaydesk.db", base_dir=tmp_path)
    engine = build_engine(store, trained, kb, tmp_path, clock=lambda: OPEN_HOURS)
    engine.actions = custom_actions(action_server)
    yield engine
    await engine.actions.close()
    await store.close()


async def test_a_rasa_sdk_action_answers_and_its_slots_come_back_next_turn(
    engine: DialogueEngine,
) -> None:
    first = await engine.handle("rest", "m1", "你好")
    assert first.intent == "greet"
    reply = first.replies[-1]
    assert reply.text == "金卡会员您好！这是第 1 次光临。"
    assert [b.title for b in reply.buttons] == ["My points"]
    second = await engine.handle("rest", "m1", "hello, good morning")
    # SlotSet("visits") kept in the conversation; the tracker carries intent, channel, language
    assert second.replies[-1].text == "Welcome back, gold member! Visit 2 (intent greet, via rest)."
    conversation = await engine.store.conversations.get(second.conversation_id)
    assert conversation.state["slots"] == {"visits": 2, "member_level": "gold"}


async def test_a_rule_mixes_a_custom_action_and_a_response_with_the_slots_filled(
    engine: DialogueEngine,
) -> None:
    await engine.handle("rest", "m2", "hello")  # member_level=gold
    r = await engine.handle("rest", "m2", "thank you so much")
    assert r.intent == "thank"
    texts = [m.text for m in r.replies]
    assert len(texts) == 2
    assert texts[0] == f"{r.customer_id}: 1280 points (gold)."  # sender_id: the customer
    assert texts[1] in said(RESPONSES, "utter_thank")


async def test_a_follow_up_to_action_human_handoff_hands_the_chat_to_a_person(
    engine: DialogueEngine,
) -> None:
    r = await engine.handle("rest", "m3", "bye bye")
    assert r.intent == "goodbye"
    assert r.handoff is not None and r.handoff.reason == "custom_action"
    assert r.status in ("queued", "assigned", "bot")  # "bot" when a ticket was opened instead
    assert r.replies[0].text in said(RESPONSES, "utter_goodbye")
    assert "Ms Vip" in r.replies[1].text  # utter_greet_named filled with name=


async def test_a_failing_or_unknown_action_leaves_the_bot_answering(
    engine: DialogueEngine,
) -> None:
    broken = await engine.handle("rest", "m4", "are you a bot?")
    assert broken.intent == "bot_challenge"
    # the policy's own answer after HTTP 500
    assert broken.replies[-1].text in said(RESPONSES, "utter_bot_challenge")
    unknown = await engine.handle("rest", "m5", "yes")
    assert unknown.intent == "affirm" and unknown.replies  # HTTP 404: the policy answers


async def test_an_action_server_that_is_down_or_slow_leaves_the_bot_answering(
    tmp_path: Path, trained: NLUPipeline, kb: KnowledgeBase
) -> None:
    store = await SqlStore.open("sqlite:///var/relaydesk.db", base_dir=tmp_path)
    engine = build_engine(store, trained, kb, tmp_path, clock=lambda: OPEN_HOURS)
    engine.actions = custom_actions(f"http://127.0.0.1:{free_port()}/webhook")
    try:
        r = await engine.handle("rest", "m6", "你好")
        assert r.intent == "greet" and "金卡" not in r.replies[-1].text
        assert r.replies and r.status == "bot"
    finally:
        await engine.actions.close()
        await store.close()


def test_rules_that_need_rasas_rule_policy_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    cases = {
        "condition": "rules:\n- rule: r1\n  condition:\n  - active_loop: f\n  steps:\n"
        "  - intent: greet\n  - action: action_x\n",
        "only '- action: NAME'": "rules:\n- rule: r2\n  steps:\n  - intent: greet\n"
        "  - slot_was_set:\n    - a: 1\n",
        "utter_nope is not in responses.yml": "rules:\n- rule: r3\n  steps:\n"
        "  - intent: greet\n  - action: utter_nope\n",
        "expected '- intent: NAME'": "rules:\n- rule: r4\n  steps:\n  - action: action_x\n"
        "  - action: action_y\n",
    }
    for says, text in cases.items():
        path.write_text(text)
        with pytest.raises(ConfigError, match=says):
            load_rules(path, set(RESPONSES.templates))


def test_action_settings_are_checked_at_start_naming_the_key() -> None:
    base = {"pipeline": [{"name": "LanguageDetector"}]}
    with pytest.raises(ConfigError, match=r"integrations\.actions.*url: required"):
        config_from_dict({**base, "integrations": {"actions": {"rules": "rules.yml"}}})
    with pytest.raises(ConfigError, match=r"integrations\.actions\.url"):
        config_from_dict({**base, "integrations": {"actions": {"url": "localhost:5055"}}})
    with pytest.raises(ConfigError, match=r"integrations\.actions\.timeout_seconds"):
        config_from_dict({**base, "integrations": {"actions": {"timeout_seconds": -1}}})
