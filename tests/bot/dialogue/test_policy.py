"""Every rule of the turn policy, on its own."""

from __future__ import annotations

import pytest

from bot.dialogue.policy import PolicySettings, Step, Turn, decide
from bot.nlu.types import Sentiment

NEUTRAL = Sentiment("neutral", 0.0, None)
ANGRY = Sentiment("negative", -0.9, "angry")
MILD = Sentiment("negative", -0.3, None)
S = PolicySettings()
ANSWER = {"id": "service/shipping/free-shipping", "version": 2, "body": "满 ¥99 包邮。"}


def turn(intent: str, **kw: object) -> Turn:
    return Turn(intent=intent, sentiment=kw.pop("sentiment", NEUTRAL), **kw)  # type: ignore[arg-type]


def test_third_failed_turn_escalates_but_second_does_not() -> None:
    second = decide(turn("out_of_scope", failed_turns=1), S)
    assert second.failed and second.failed_turns == 2 and second.escalate is None
    third = decide(turn("out_of_scope", failed_turns=2), S)
    assert third.failed_turns == 3 and third.escalate == "failed_turns"


def test_a_successful_turn_resets_the_count() -> None:
    d = decide(turn("question_shipping", failed_turns=2, kb_answer=ANSWER), S)
    assert not d.failed and d.failed_turns == 0 and d.escalate is None
    assert d.kb_article == {"id": ANSWER["id"], "version": 2}
    assert d.steps[-1].response == "utter_kb_answer"


def test_max_failed_turns_is_configurable() -> None:
    d = decide(turn("out_of_scope", failed_turns=0), PolicySettings(max_failed_turns=1))
    assert d.escalate == "failed_turns"


def test_a_question_without_a_knowledge_answer_fails() -> None:
    d = decide(turn("question_payment"), S)
    assert d.failed and d.steps[-1].response == "utter_default"


def test_an_unknown_intent_with_a_good_knowledge_answer_succeeds() -> None:
    d = decide(turn("out_of_scope", fallback=True, kb_answer=ANSWER), S)
    assert not d.failed and d.kb_article is not None


def test_feedback_negative_fails_the_turn() -> None:
    d = decide(turn("feedback_negative", answered_before=True, failed_turns=2), S)
    assert d.failed and d.escalate == "failed_turns"


def test_request_human_escalates_at_once_with_priority() -> None:
    d = decide(turn("request_human"), S)
    assert d.escalate == "explicit_request" and d.priority >= 2 and not d.failed


def test_complaint_escalates_after_an_empathetic_reply() -> None:
    d = decide(turn("complaint", confidence=0.99), S)
    assert [s.response for s in d.steps] == ["utter_empathy", "utter_complaint_received"]
    assert d.escalate == "complaint"


def test_negative_sentiment_opens_with_empathy_and_raises_priority() -> None:
    calm = decide(turn("question_shipping", kb_answer=ANSWER), S)
    upset = decide(turn("question_shipping", kb_answer=ANSWER, sentiment=ANGRY), S)
    assert calm.steps[0].response != "utter_empathy" and calm.priority == 0
    assert upset.steps[0].response == "utter_empathy" and upset.priority == 2
    assert upset.empathetic


def test_a_streak_of_strongly_negative_turns_escalates() -> None:
    d = decide(turn("question_shipping", kb_answer=ANSWER, sentiment=ANGRY, negative_streak=2), S)
    assert d.negative_streak == 3 and d.escalate == "negative_sentiment"
    mild = decide(turn("question_shipping", kb_answer=ANSWER, sentiment=MILD, negative_streak=2), S)
    assert mild.negative_streak == 0 and mild.escalate is None


def test_order_status_asks_for_the_number_then_looks_it_up() -> None:
    ask = decide(turn("order_status"), S)
    assert ask.steps[-1].response == "utter_ask_order_id" and ask.awaiting == "order_id"
    assert not ask.failed
    order = {"order_id": "202611180042", "items": "Kite X5", "status_text": "shipped"}
    found = decide(
        turn("greet", awaiting="order_id", entities={"order_id": "202611180042"}, order=order), S
    )
    assert found.steps[-1].response == "utter_order_status"
    assert found.steps[-1].values["status_text"] == "shipped"


def test_an_unknown_order_number_is_a_failed_turn() -> None:
    d = decide(turn("order_status", entities={"order_id": "209999999999"}), S)
    assert d.failed and d.steps[-1].response == "utter_order_not_found"


@pytest.mark.parametrize("intent", ["greet", "goodbye", "thank", "affirm", "deny", "bot_challenge"])
def test_small_talk_has_its_own_reply_and_is_a_success(intent: str) -> None:
    d = decide(turn(intent, failed_turns=2), S)
    assert d.steps[-1].response == f"utter_{intent}" and d.failed_turns == 0


def test_ticket_status_reads_the_ticket() -> None:
    t = {"number": "T-1002", "subject": "Screen", "status_text": "in progress", "updated": "today"}
    d = decide(turn("ticket_status", entities={"ticket_id": "T-1002"}, ticket=t), S)
    assert d.steps[-1].response == "utter_ticket_status" and not d.failed


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("5", (5, "")),
        ("/rate 4 ok", (4, "ok")),
        ("4星 很满意", (4, "很满意")),
        ("3 stars, slow but fine", (3, "slow but fine")),
        ("5,好", (5, "好")),
        # A question that starts with a number is not a rating.
        ("3点前下单今天能发吗", None),
        ("2号发货吗", None),
        ("1.5 days?", None),
        ("6", None),
    ],
)
def test_a_rating_is_a_lone_digit_from_1_to_5(text: str, rating: tuple[int, str] | None) -> None:
    from bot.dialogue.engine import parse_rating

    assert parse_rating(text) == rating


CANDIDATES = (
    {"id": "after-sales/returns/seven-day", "title": "七天无理由退货", "version": 1},
    {"id": "after-sales/returns/exchange", "title": "换货流程", "version": 1},
)


def test_a_sure_question_with_nothing_close_offers_the_best_candidates() -> None:
    d = decide(turn("question_returns", confidence=0.95, kb_candidates=CANDIDATES), S)
    assert not d.failed and d.asked_back and d.failed_turns == 0
    assert d.kb_choices == tuple(c["id"] for c in CANDIDATES) and d.awaiting == "kb_choice"


def test_a_sure_question_with_no_candidate_is_asked_for_details() -> None:
    d = decide(turn("question_returns", confidence=0.95, failed_turns=1), S)
    assert [s.response for s in d.steps] == ["utter_ask_details"] and not d.failed
    assert d.failed_turns == 1  # a question back neither fails nor helps


def test_asking_back_twice_in_a_row_is_a_failure() -> None:
    for awaiting in ("kb_choice", "details"):
        d = decide(
            turn("question_returns", confidence=0.95, kb_candidates=CANDIDATES, awaiting=awaiting),
            S,
        )
        assert d.failed and not d.asked_back, awaiting


def test_an_unsure_question_is_not_asked_back() -> None:
    d = decide(turn("question_returns", confidence=0.4, kb_candidates=CANDIDATES), S)
    assert d.failed and d.steps[-1].response == "utter_default"


def test_a_second_failure_in_a_row_says_so_and_offers_a_person() -> None:
    d = decide(turn("out_of_scope", failed_turns=1), S)
    assert [s.response for s in d.steps] == ["utter_default_again"] and d.failed


def test_the_bot_apologises_once_per_conversation() -> None:
    d = decide(turn("complaint", confidence=0.99, apologised=True), S)
    assert [s.response for s in d.steps] == ["utter_complaint_received"]
    angry = decide(turn("question_shipping", kb_answer=ANSWER, sentiment=ANGRY, apologised=True), S)
    assert "utter_empathy" not in [s.response for s in angry.steps]


def test_mild_negativity_alone_is_no_reason_to_apologise() -> None:
    d = decide(turn("question_shipping", kb_answer=ANSWER, sentiment=MILD), S)
    assert not d.empathetic and d.steps[0].response == "utter_kb_answer"
    assert d.priority == 1  # but the chat is still more urgent for an agent


@pytest.mark.parametrize("media", ["sticker", "image", "voice", "location", "file"])
def test_a_message_that_is_not_text_never_fails_and_keeps_what_the_bot_awaits(media: str) -> None:
    d = decide(turn("non_text", media=media, failed_turns=2, awaiting="order_id"), S)
    assert not d.failed and d.failed_turns == 2 and d.escalate is None
    assert d.awaiting == "order_id" and d.steps[0].response.startswith("utter_non_text_")


def test_commands_are_answered_whatever_the_nlu_thought() -> None:
    assert decide(turn("out_of_scope", command="help"), S).steps[0].response == "utter_help"
    assert decide(turn("greet", command="start"), S).steps[0].response == "utter_greet"
    human = decide(turn("out_of_scope", command="human"), S)
    assert human.escalate == "explicit_request" and not human.failed


def test_a_complaint_the_nlu_is_unsure_of_is_answered_like_a_question() -> None:
    unsure = decide(turn("complaint", confidence=0.6, kb_answer=ANSWER), S)
    assert unsure.escalate is None and not unsure.failed and not unsure.empathetic
    assert [s.response for s in unsure.steps] == ["utter_kb_answer"]
    asked = decide(turn("complaint", confidence=0.8, kb_candidates=CANDIDATES), S)
    assert asked.asked_back and asked.escalate is None
    sure = decide(turn("complaint", confidence=0.98, kb_answer=ANSWER, sentiment=ANGRY), S)
    assert sure.escalate == "complaint" and sure.empathetic


def test_a_photo_whose_caption_is_not_understood_is_acknowledged_not_failed() -> None:
    d = decide(turn("out_of_scope", fallback=True, attachment="image", failed_turns=1), S)
    assert not d.failed and d.failed_turns == 1 and d.steps[0].response == "utter_non_text_image"
    answered = decide(turn("question_shipping", attachment="image", kb_answer=ANSWER), S)
    assert answered.kb_article is not None


def test_a_calm_report_of_a_fault_is_negative_but_not_upset() -> None:
    fault = Sentiment("negative", -0.7, None)  # "my left earbud makes a crackling noise"
    calm = decide(turn("question_product", kb_answer=ANSWER, sentiment=fault), S)
    assert not calm.empathetic and calm.priority == 1
    hurried = decide(
        turn("question_product", kb_answer=ANSWER, sentiment=Sentiment("negative", -0.5, "urgent")),
        S,
    )
    assert hurried.empathetic
    failed_before = decide(turn("question_product", sentiment=fault, failed_turns=1), S)
    assert failed_before.empathetic


def test_negative_words_about_their_own_order_are_upset() -> None:
    late = Sentiment("negative", -0.4, None)  # "tracking hasn't moved in 4 days"
    d = decide(turn("order_status", sentiment=late), S)
    assert d.empathetic and d.steps[0].response == "utter_empathy"
    assert d.steps[-1].response == "utter_ask_order_id"


def test_a_customer_known_by_name_is_greeted_by_it() -> None:
    d = decide(turn("greet", customer_name="Lina"), S)
    assert d.steps[0] == Step("utter_greet_named", {"name": "Lina"})
    assert decide(turn("greet"), S).steps[0].response == "utter_greet"


def test_a_grievance_is_upset_however_calm_its_words() -> None:
    # "my repair has been away three weeks": neutral words, but the service let them down.
    waited = Sentiment("neutral", -0.1, None, grievance=0.85)
    d = decide(turn("question_product", kb_answer=ANSWER, sentiment=waited), S)
    assert d.empathetic and d.steps[0].response == "utter_empathy"
    assert d.steps[-1].response == "utter_kb_answer" and not d.failed
    once = decide(turn("question_product", kb_answer=ANSWER, sentiment=waited, apologised=True), S)
    assert not once.empathetic


def test_a_calm_fault_report_or_question_with_little_grievance_gets_no_apology() -> None:
    fault = Sentiment("negative", -0.7, None, grievance=0.3)  # "the screen flickers"
    assert not decide(turn("question_product", kb_answer=ANSWER, sentiment=fault), S).empathetic
    asked = Sentiment("neutral", 0.0, None, grievance=S.grievance - 0.01)
    assert not decide(turn("question_shipping", kb_answer=ANSWER, sentiment=asked), S).empathetic


def test_insisting_after_a_failed_turn_takes_less_grievance() -> None:
    # "that's the number, look again" after "order not found".
    insist = Sentiment("neutral", 0.0, None, grievance=S.grievance_insisting + 0.05)
    first = decide(turn("affirm", sentiment=insist), S)
    assert not first.empathetic
    again = decide(turn("affirm", sentiment=insist, failed_turns=1), S)
    assert again.empathetic and again.steps[0].response == "utter_empathy"
    low = Sentiment("neutral", 0.0, None, grievance=S.grievance_insisting - 0.05)
    assert not decide(turn("out_of_scope", sentiment=low, failed_turns=1), S).empathetic


def test_a_mild_grievance_about_their_own_order_is_upset() -> None:
    # "it says delivered, nothing came": a stake in the order, little grievance needed.
    mild = Sentiment("neutral", -0.1, None, grievance=S.grievance_own_order + 0.05)
    order = {"order_id": "202611180042", "status": "shipped", "status_text": "shipped"}
    own = decide(
        turn("order_status", entities={"order_id": "202611180042"}, order=order, sentiment=mild), S
    )
    assert own.empathetic and own.steps[0].response == "utter_empathy"
    assert not decide(turn("question_shipping", kb_answer=ANSWER, sentiment=mild), S).empathetic
    calm = Sentiment("neutral", 0.0, None, grievance=S.grievance_own_order - 0.05)
    assert not decide(
        turn("order_status", entities={"order_id": "202611180042"}, order=order, sentiment=calm), S
    ).empathetic


def test_only_very_negative_words_are_upset_on_their_own() -> None:
    # A disappointed product report ("the noise cancelling is weak") is negative, not upset.
    report = Sentiment("negative", S.upset_score + 0.04, None)
    assert not decide(turn("question_product", kb_answer=ANSWER, sentiment=report), S).empathetic
    harsh = Sentiment("negative", S.upset_score - 0.01, None)
    assert decide(turn("question_product", kb_answer=ANSWER, sentiment=harsh), S).empathetic


@pytest.mark.parametrize("status", ["delivered", "cancelled"])
def test_an_upset_customer_disputing_a_settled_order_goes_to_a_person(status: str) -> None:
    order = {"order_id": "202611200317", "status": status, "status_text": status}
    upset = Sentiment("neutral", -0.2, None, grievance=0.6)
    d = decide(
        turn("order_status", entities={"order_id": "202611200317"}, order=order, sentiment=upset), S
    )
    assert d.escalate == "order_dispute" and d.empathetic
    assert [s.response for s in d.steps] == ["utter_empathy", "utter_order_status"]
    # Apologised earlier in the conversation: the same episode, still a dispute.
    later = decide(
        turn("order_status", entities={"order_id": "202611200317"}, order=order, apologised=True), S
    )
    assert later.escalate == "order_dispute" and not later.empathetic


def test_a_calm_look_up_or_an_upset_one_of_a_moving_order_stays_with_the_bot() -> None:
    delivered = {"order_id": "202611200317", "status": "delivered", "status_text": "delivered"}
    calm = decide(turn("order_status", entities={"order_id": "202611200317"}, order=delivered), S)
    assert calm.escalate is None and not calm.failed
    shipped = {"order_id": "202611180042", "status": "shipped", "status_text": "shipped"}
    upset = Sentiment("negative", -0.8, None, grievance=0.9)  # "still not here??"
    impatient = decide(
        turn("order_status", entities={"order_id": "202611180042"}, order=shipped, sentiment=upset),
        S,
    )
    assert impatient.escalate is None and impatient.empathetic


def test_a_customer_standing_by_a_number_not_found_goes_to_a_person() -> None:
    missing = decide(turn("order_status", entities={"order_id": "202611159999"}), S)
    assert missing.failed and missing.awaiting == "order_id"  # "could you check the number?"
    for said in ("affirm", "order_status", "feedback_negative"):
        d = decide(turn(said, awaiting="order_id", failed_turns=1), S)
        assert d.escalate == "not_found" and not d.failed, said
    # A corrected number is looked up; a new question is answered.
    fixed = decide(
        turn(
            "affirm",
            entities={"order_id": "202611180042"},
            awaiting="order_id",
            failed_turns=1,
            order={
                "order_id": "202611180042",
                "status": "shipped",
                "status_text": "shipped",
                "items": "X5",
                "tracking_text": "",
            },
        ),
        S,
    )
    assert fixed.escalate is None and fixed.steps[-1].response == "utter_order_status"
    asked = decide(
        turn("question_shipping", kb_answer=ANSWER, awaiting="order_id", failed_turns=1), S
    )
    assert asked.escalate is None and asked.kb_article is not None
    # Asked for a number the first time (nothing failed yet), "yes" is no dispute.
    first = decide(turn("affirm", awaiting="order_id"), S)
    assert first.escalate is None
