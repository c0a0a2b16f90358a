"""Close calls become a question: "Did you mean … / … / talk to a person", and the pick answers.

The engine tests run the real NLU model, store, templates and a knowledge base built from the
shipped articles. Its `answer_threshold` is set to 1.0, above any confidence the search gives, so
every search that the fitted clarify threshold lets through offers choices instead of an answer:
a clear question then offers its own article first, which keeps the tests deterministic without
touching the retriever.
"""

from __future__ import annotations

import pytest

from bot.dialogue.choices import (
    HUMAN_PAYLOAD,
    KB_PICK,
    article_payload,
    payload_article_id,
    read_pick,
)
from bot.dialogue.engine import DialogueEngine, TurnResult
from bot.dialogue.policy import PolicySettings, Turn, decide
from bot.dialogue.responses import Button
from bot.knowledge.base import KnowledgeBase
from bot.metrics import turn_outcome
from bot.nlu.pipeline import NLUPipeline
from bot.nlu.types import Sentiment
from tests.bot.dialogue.conftest import sample_kb

NEUTRAL = Sentiment("neutral", 0.0, None)
FREE_SHIPPING = "service/shipping/free-shipping"
CHOICES = (
    {"id": "a/one", "title": "First", "version": 2, "category": "a", "body": "One."},
    {"id": "a/two", "title": "Second", "version": 1, "category": "a", "body": "Two."},
)


# -- the policy ------------------------------------------------------------------------------


def test_close_choices_are_offered_as_buttons_and_the_count_stays_as_it_was() -> None:
    d = decide(
        Turn("question_shipping", NEUTRAL, failed_turns=2, kb_choices=CHOICES), PolicySettings()
    )
    (step,) = d.steps
    assert step.response == "utter_kb_choices"
    assert step.buttons == (
        Button("First", '/kb_article{"id": "a/one"}'),
        Button("Second", '/kb_article{"id": "a/two"}'),
    )
    assert (d.failed, d.failed_turns, d.escalate) == (False, 2, None)
    assert (d.awaiting, d.kb_choices, d.kb_article) == ("kb_choice", ("a/one", "a/two"), None)


def test_a_sure_answer_wins_over_choices_and_small_talk_is_never_asked_back() -> None:
    answer = {**CHOICES[0]}
    d = decide(
        Turn("question_shipping", NEUTRAL, kb_answer=answer, kb_choices=CHOICES), PolicySettings()
    )
    assert [s.response for s in d.steps] == ["utter_kb_answer"] and d.kb_choices == ()
    d = decide(Turn("greet", NEUTRAL, kb_choices=CHOICES), PolicySettings())
    assert [s.response for s in d.steps] == ["utter_greet"] and d.awaiting is None


@pytest.mark.parametrize("intent", ["nlu_fallback", "out_of_scope"])
def test_only_a_question_is_asked_back_anything_else_still_fails(intent: str) -> None:
    d = decide(Turn(intent, NEUTRAL, kb_choices=CHOICES), PolicySettings())
    assert [s.response for s in d.steps] == ["utter_default"]
    assert (d.failed, d.failed_turns, d.kb_choices, d.awaiting) == (True, 1, (), None)


def test_a_picked_article_is_a_successful_knowledge_answer() -> None:
    d = decide(
        Turn(KB_PICK, NEUTRAL, failed_turns=2, awaiting="kb_choice", kb_answer=CHOICES[1]),
        PolicySettings(),
    )
    assert [s.response for s in d.steps] == ["utter_kb_answer"]
    assert d.kb_article == {"id": "a/two", "version": 1}
    assert (d.failed, d.failed_turns, d.awaiting) == (False, 0, None)


# -- reading a pick back -----------------------------------------------------------------------

OFFERED = [("a/one", "Free shipping and shipping fees"), ("a/two", "包邮与运费")]


@pytest.mark.parametrize(
    ("text", "payload"),
    [
        ("1", article_payload("a/one")),
        (" 2. ", article_payload("a/two")),
        ("２", article_payload("a/two")),  # a full-width digit, as Chinese keyboards type it
        ("3", HUMAN_PAYLOAD),  # the number after the articles: the person button
        ("4", None),
        ("free shipping and  shipping fees", article_payload("a/one")),
        ("包邮与运费", article_payload("a/two")),
        ("包邮", None),
        ("202611180042", None),  # an order number is not a pick
    ],
)
def test_a_number_or_a_title_typed_back_is_read_as_its_button(
    text: str, payload: str | None
) -> None:
    assert read_pick(text, OFFERED) == payload


def test_a_long_title_telegram_sent_back_cut_to_64_bytes_still_picks_its_article() -> None:
    title = "How do I move my order history and saved addresses to a new account after a merge?"
    offered = [("service/account/a-very-long-article-id-for-merging-accounts", title)]
    assert len(article_payload(offered[0][0]).encode()) > 64  # so Telegram sends the title
    cut = title.encode()[:64].decode(errors="ignore")
    assert read_pick(cut, offered) == article_payload(offered[0][0])
    assert read_pick("How do I move my order", offered) is None  # a short prefix is not a pick


def test_the_article_payload_carries_any_id_and_malformed_ones_are_not_read() -> None:
    assert article_payload("a/one") == '/kb_article{"id": "a/one"}'
    assert payload_article_id(article_payload('we"ird/编号')) == 'we"ird/编号'
    for text in ("/kb_article{oops}", '/kb_article{"id": 3}', "/kb_article", "hello"):
        assert payload_article_id(text) is None


# -- whole turns ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory, trained: NLUPipeline) -> KnowledgeBase:
    """No answer is ever sure (threshold 1.0): every close call becomes an offer."""
    return sample_kb(tmp_path_factory.mktemp("kb"), trained, answer_threshold=1.0)


def offered(r: TurnResult) -> list[str]:
    """The article ids on the offer's buttons."""
    ids = [payload_article_id(b.payload) for b in r.replies[-1].buttons[:-1]]
    return [i for i in ids if i is not None]


async def test_a_chinese_close_call_is_offered_in_chinese_and_is_no_failed_turn(
    engine: DialogueEngine,
) -> None:
    failed = await engine.handle("rest", "zh1", "没用")
    assert failed.failed_turns == 1
    r = await engine.handle("rest", "zh1", "满多少钱包邮啊")
    ask = r.replies[-1]
    assert ask.text == "您想问的是以下哪个问题？"
    assert 2 <= len(ask.buttons) - 1 <= 3
    assert ask.buttons[-1] == Button("转人工", "/request_human")
    assert offered(r)[0] == FREE_SHIPPING
    assert engine.kb is not None
    articles = [engine.kb.index.articles[i] for i in offered(r)]
    assert [b.title for b in ask.buttons[:-1]] == [a.title for a in articles]
    assert {a.language for a in articles} == {"zh"}
    assert (r.failed_turns, r.kb_article, r.handoff) == (1, None, None)
    assert turn_outcome(r) == "clarify"
    # Text-only channels number the buttons, the person last.
    assert ask.fallback_text().splitlines()[-1].endswith(f"{len(ask.buttons)}. 转人工")
    conv = await engine.store.conversations.get(r.conversation_id)
    assert conv.state["awaiting"] == "kb_choice" and conv.state["kb_choices"] == offered(r)
    stored = await engine.store.messages.of(r.conversation_id)
    customer = [m for m in stored if m.sender == "customer"][-1]
    assert customer.parse is not None
    assert customer.parse["turn"] == {"failed": False, "kb_choices": offered(r)}


async def test_an_english_close_call_is_offered_in_english(engine: DialogueEngine) -> None:
    r = await engine.handle("rest", "en1", "how much is shipping")
    ask = r.replies[-1]
    assert ask.text == "Did you mean one of these?"
    assert ask.buttons[-1] == Button("Talk to a person", "/request_human")
    assert offered(r)[0] == f"{FREE_SHIPPING}.en"
    assert engine.kb is not None
    assert {engine.kb.index.articles[i].language for i in offered(r)} == {"en"}
    assert r.failed_turns == 0 and r.language == "en"


async def test_picking_the_button_payload_answers_with_that_article(
    engine: DialogueEngine,
) -> None:
    await engine.handle("rest", "p1", "没用")
    ask = await engine.handle("rest", "p1", "满多少钱包邮啊")
    second = ask.replies[-1].buttons[1]
    r = await engine.handle("rest", "p1", second.payload)
    chosen = offered(ask)[1]
    assert engine.kb is not None
    article = engine.kb.index.articles[chosen]
    assert r.intent == KB_PICK and r.kb_article == {"id": chosen, "version": article.version}
    assert r.replies[-1].text == article.body
    assert (r.failed_turns, r.handoff, turn_outcome(r)) == (0, None, "answered")
    stored = await engine.store.messages.of(r.conversation_id)
    assert stored[-1].kb_article_id == chosen
    conv = await engine.store.conversations.get(r.conversation_id)
    assert conv.state["awaiting"] is None and "kb_choices" not in conv.state
    # The offer is used up: a digit now is an ordinary message, not a pick.
    again = await engine.handle("rest", "p1", "1")
    assert again.intent != KB_PICK and again.kb_article is None


async def test_picking_by_number_answers_with_that_article(engine: DialogueEngine) -> None:
    await engine.handle("rest", "d1", "that didn't help")
    ask = await engine.handle("rest", "d1", "how much is shipping")
    r = await engine.handle("rest", "d1", "2")
    chosen = offered(ask)[1]
    assert r.kb_article is not None and r.kb_article["id"] == chosen
    assert (r.failed_turns, r.language) == (0, "en")


async def test_picking_by_title_answers_with_that_article(engine: DialogueEngine) -> None:
    ask = await engine.handle("rest", "t1", "满多少钱包邮啊")
    title = ask.replies[-1].buttons[0].title
    r = await engine.handle("rest", "t1", title)  # WeChat lists the titles to type back
    assert r.kb_article is not None and r.kb_article["id"] == FREE_SHIPPING
    assert r.failed_turns == 0 and "99" in r.replies[-1].text


async def test_the_number_after_the_articles_asks_for_a_person_in_the_customers_language(
    engine: DialogueEngine,
) -> None:
    ask = await engine.handle("rest", "h1", "how much is shipping")
    r = await engine.handle("rest", "h1", str(len(ask.replies[-1].buttons)))
    assert r.handoff is not None and r.handoff.reason == "explicit_request"
    assert r.language == "en" and "ticket" in r.replies[-1].text


async def test_a_stale_button_still_answers_and_an_unknown_id_is_an_ordinary_message(
    engine: DialogueEngine,
) -> None:
    r = await engine.handle("rest", "s1", article_payload(FREE_SHIPPING))
    assert r.kb_article is not None and r.kb_article["id"] == FREE_SHIPPING
    assert r.failed_turns == 0
    unknown = await engine.handle("rest", "s2", article_payload("no/such-article"))
    assert unknown.intent != KB_PICK and unknown.kb_article is None
