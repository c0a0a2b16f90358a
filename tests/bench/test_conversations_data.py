"""bench/data/conversations.yml: the schema bench/conversations.py checks, labels that name real
articles in the reply's language, the coverage issue 16 asks for, and customer lines of its own
(none taken from the training data or the articles' phrasings)."""

from __future__ import annotations

import importlib.util
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from bot.knowledge.loader import load_base
from bot.nlu import rasa_format
from tests.conftest import REPO

BENCH = REPO / "bench"
DATA = BENCH / "data" / "conversations.yml"
SAMPLE_ORDERS = REPO / "bot" / "dialogue" / "sample_orders.yml"
_ORDER = re.compile(r"20\d{10}")


def _runner() -> ModuleType:
    """bench/conversations.py, which imports its neighbour _common as the scripts run it."""
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_conversations", BENCH / "conversations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runner() -> ModuleType:
    return _runner()


@pytest.fixture(scope="module")
def conversations(runner: ModuleType) -> list:
    return runner.load_conversations(DATA)


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


def _short(text: str) -> bool:
    """Lines like "你好呀", "agent please", an order number or a command are everybody's."""
    han = len(re.findall(r"[\u4e00-\u9fff]", text))
    return han < 6 and len(re.findall(r"[A-Za-z]+", text)) < 3


def test_there_are_at_least_160_conversations_about_half_in_each_language(
    conversations: list,
) -> None:
    assert len(conversations) >= 160
    languages = Counter(c.language for c in conversations)
    assert 0.4 <= languages["zh"] / len(conversations) <= 0.6


def test_every_labelled_article_exists_in_the_language_of_the_reply(conversations: list) -> None:
    articles = load_base(REPO / "knowledge").by_id()
    wrong = [
        (c.id, i, a)
        for c in conversations
        for i, t in enumerate(c.turns, 1)
        for a in t.expect.articles or ()
        if a not in articles or articles[a].language != t.expect.language
    ]
    assert wrong == []


def test_the_conversations_cover_what_issue_16_asks_for(conversations: list) -> None:
    turns = [t for c in conversations for t in c.turns]
    said = {t.say for t in turns}
    kinds = Counter(t.expect.kind for t in turns)
    for kind in ("question", "order", "smalltalk", "offtopic", "non_text", "command"):
        assert kinds[kind] >= 3, kind
    for kind in ("request_human", "complaint"):
        assert kinds[kind] >= 10, kind
    for marker in ("[sticker]", "[photo]", "[voice]", "[location]", "[image]"):
        assert marker in said, marker
    assert any(s.startswith("[photo] ") for s in said)  # a photo with a caption
    for command in ("/start", "/help", "/human", "帮助", "人工", "转人工"):
        assert command in said, command
    assert sum(not c.agents_online for c in conversations) >= 5
    assert sum(t.expect.upset for t in turns) >= 30
    assert sum(t.expect.escalate for t in turns) >= 30
    # Turns a good agent answers in the other language than the channel's: genuine switches.
    assert sum(any(t.expect.language != c.language for t in c.turns) for c in conversations) >= 3
    known = {str(o["order_id"]) for o in yaml.safe_load(SAMPLE_ORDERS.read_text("utf-8"))["orders"]}
    numbers = {n for s in said for n in _ORDER.findall(s)}
    assert numbers & known and numbers - known  # sample orders, and numbers that are no order


def test_no_customer_line_is_copied_from_the_training_data_or_the_articles(
    conversations: list,
) -> None:
    taken = {_key(e.text) for e in rasa_format.load(REPO / "nlu_data").examples}
    for article in load_base(REPO / "knowledge").articles:
        taken.update(_key(text) for text in (article.title, *article.questions))
    raw = yaml.safe_load((BENCH / "data" / "kb_questions.yml").read_text(encoding="utf-8"))
    taken.update(_key(q["question"]) for q in raw["questions"])
    copied = sorted(
        t.say for c in conversations for t in c.turns if not _short(t.say) and _key(t.say) in taken
    )
    assert copied == []


@pytest.mark.parametrize(
    ("turn", "message"),
    [
        ({"say": "hi"}, "a mapping of exactly say and expect"),
        ({"say": "hi", "expect": {"kind": "question"}}, "expect.language"),
        ({"say": "hi", "expect": {"language": "fr"}}, "expect.language 'fr'"),
        ({"say": "hi", "expect": {"language": "en", "kind": "chat"}}, "expect.kind 'chat'"),
        ({"say": "hi", "expect": {"language": "en", "articles": []}}, "expect.articles"),
        ({"say": 202611180042, "expect": {"language": "en"}}, "quote numbers"),
    ],
)
def test_a_broken_turn_is_reported_with_its_conversation_and_turn(
    runner: ModuleType, tmp_path: Path, turn: dict, message: str
) -> None:
    good = {"say": "hello", "expect": {"language": "en", "kind": "smalltalk"}}
    doc = {
        "version": "1",
        "conversations": [{"id": "en-broken-01", "language": "en", "turns": [good, turn]}],
    }
    path = tmp_path / "conversations.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(runner.DataError) as caught:
        runner.load_conversations(path)
    assert "conversation 'en-broken-01', turn 2" in str(caught.value)
    assert message in str(caught.value)


def test_a_conversation_needs_two_to_seven_turns(runner: ModuleType, tmp_path: Path) -> None:
    doc = {
        "version": "1",
        "conversations": [
            {
                "id": "zh-short-01",
                "language": "zh",
                "turns": [{"say": "你好", "expect": {"language": "zh"}}],
            }
        ],
    }
    path = tmp_path / "conversations.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(runner.DataError, match=r"zh-short-01.*2-7 turns, has 1"):
        runner.load_conversations(path)


def test_the_tuning_and_held_out_halves_split_the_conversations(
    runner: ModuleType, conversations: list
) -> None:
    odd, even = runner.half(conversations, "odd"), runner.half(conversations, "even")
    assert {c.id for c in odd} | {c.id for c in even} == {c.id for c in conversations}
    assert not {c.id for c in odd} & {c.id for c in even}
    assert all(int(c.id.rsplit("-", 1)[1]) % 2 == 1 for c in odd)
    assert runner.half(conversations, None) == conversations
    # Both halves hold upset customers and handoffs to measure.
    for part in (odd, even):
        assert sum(t.expect.upset for c in part for t in c.turns) >= 20
        assert sum(t.expect.escalate for c in part for t in c.turns) >= 20
