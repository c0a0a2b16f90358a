"""The shipped conversation stories, through the real engine, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.dialogue.stories import load_stories, run_story
from bot.errors import TrainingDataError
from bot.knowledge.base import KnowledgeBase
from bot.nlu.pipeline import NLUPipeline
from bot.store.sql_store import SqlStore
from handoff.service import HandoffService
from tests.bot.dialogue.conftest import build_engine
from tests.bot.store.conftest import store  # noqa: F401  (SQLite and PostgreSQL)
from tests.conftest import REPO

STORIES = REPO / "tests" / "stories" / "conversations.yml"


async def test_every_shipped_story_passes(
    store: SqlStore,  # noqa: F811
    trained: NLUPipeline,
    kb: KnowledgeBase,
    tmp_path: Path,
) -> None:
    engine = build_engine(store, trained, kb, tmp_path)
    service = HandoffService(store, engine.responses)
    failures = []
    for story in load_stories(STORIES):
        result = await run_story(story, engine, service)
        failures += [f"{result.name}: {f}" for f in result.failures]
    assert failures == []


def test_the_stories_cover_what_the_issue_asks_for() -> None:
    stories = load_stories(STORIES)
    intents = {step.get("intent") for s in stories for step in s["steps"]}
    assert {
        "greet",
        "goodbye",
        "thank",
        "affirm",
        "deny",
        "bot_challenge",
        "order_status",
        "ticket_status",
        "feedback_negative",
        "complaint",
        "question_shipping",
        "question_returns",
        "question_payment",
        "question_account",
        "question_product",
        "out_of_scope",
    } <= intents
    explicit = [
        s
        for s in stories
        for step in s["steps"]
        if step.get("handoff") == "explicit_request" and "user" in step
    ]
    assert len(explicit) >= 12
    actions = {step.get("action") for s in stories for step in s["steps"]}
    assert {"claim", "send", "transfer", "return_to_bot", "resolve"} <= actions


def test_a_malformed_story_file_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "s.yml"
    f.write_text("stories:\n- story: x\n  steps:\n  - {user: hi, intnet: greet}\n", "utf-8")
    with pytest.raises(TrainingDataError, match="unknown key"):
        load_stories(f)
