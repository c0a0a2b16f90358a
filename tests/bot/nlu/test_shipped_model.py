"""The shipped model on phrasings a customer would use; the full measurement is bench/nlu.py."""

from __future__ import annotations

import pytest

from bot.nlu.pipeline import NLUPipeline


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("你好", "greet"),
        ("hi there", "greet"),
        ("转人工", "request_human"),
        ("can I talk to a real person", "request_human"),
        ("你是机器人吗", "bot_challenge"),
        ("订单202611180042到哪了", "order_status"),
        ("where's my order 202611180042", "order_status"),
        ("工单T-1002处理得怎么样了", "ticket_status"),
        ("满99包邮吗", "question_shipping"),
        ("do you ship to Germany", "question_shipping"),
        ("七天无理由退货怎么操作", "question_returns"),
        ("付款失败了怎么办", "question_payment"),
        ("I forgot my password", "question_account"),
        ("蓝牙连不上耳机", "question_product"),
        ("my battery drains really fast", "question_product"),
        ("你们的服务太差了，我要投诉", "complaint"),
        ("that didn't help at all", "feedback_negative"),
        ("今天天气怎么样", "out_of_scope"),
    ],
)
def test_core_phrasings_in_both_languages(trained: NLUPipeline, text: str, intent: str) -> None:
    assert trained.parse(text).intent.name == intent


def test_parse_shape_matches_rasa(trained: NLUPipeline) -> None:
    out = trained.parse("where's my order 202611180042").to_dict()
    assert set(out) >= {"text", "intent", "intent_ranking", "entities", "sentiment", "language"}
    assert set(out["intent"]) == {"name", "confidence"}
    assert len(out["intent_ranking"]) == 10
    confidences = [r["confidence"] for r in out["intent_ranking"]]
    assert confidences == sorted(confidences, reverse=True)
    assert out["entities"] == [
        {
            "entity": "order_id",
            "value": "202611180042",
            "start": 17,
            "end": 29,
            "extractor": "RegexEntityExtractor",
        }
    ]
    assert out["language"] == "en"
