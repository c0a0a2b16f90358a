"""Masking contact details out of stored customer text: what is masked, what must survive (order
and ticket numbers, amounts, dates, tracking codes), the stored parse kept consistent, and the
whole path through the REST channel with `privacy.mask_transcripts` on."""

from __future__ import annotations

from typing import Any

import pytest

from bot.privacy import mask, mask_parse, mask_text
from bot.server.context import CONTEXT
from tests.apps import AppFactory


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("我的手机13800138000，麻烦回电", "我的手机[phone]，麻烦回电"),
        ("电话 138 0013 8000 或 139-1234-5678", "电话 [phone] 或 [phone]"),
        ("+86 138 0013 8000", "[phone]"),
        ("(+86)13800138000 找李先生", "[phone] 找李先生"),
        ("0086 13912345678", "[phone]"),
        ("座机010-62345678，分机找我", "座机[phone]，分机找我"),
        ("深圳 (0755) 8765 4321", "深圳 [phone]"),
        ("call me on +44 20 7946 0958 please", "call me on [phone] please"),
        ("US: +1 (415) 555-2671 / 415.555.2671", "US: [phone] / [phone]"),
        ("邮箱li.lei+shop@example.com.cn谢谢", "邮箱[email]谢谢"),
        ("mail 13800138000@qq.com now", "mail [email] now"),
        ("Email: Jane_Doe@mail.example.org.", "Email: [email]."),
        ("订单202611180042，电话13800138000", "订单202611180042，电话[phone]"),
    ],
)
def test_phone_numbers_and_email_addresses_are_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "订单202611180042怎么还没到，急死了",  # order numbers: 12 digits from 20
        "where is order 202611180099?",
        "工单T-1002进度如何",  # ticket numbers, as customers type them
        "ticket t1002 and T 100345",
        "订单号2026111800421",  # a run of digits longer than a phone is never cut into one
        "单号SF1234567890123，YT1398765432101",  # tracking codes
        "金额￥1399.00，2026-11-18 10:30 下的单",  # amounts, dates, times
        "+100.00 refund, 15% off, room 1302",
        "Kite X5 Pro 256GB, 65W charger",
        "1380013800 is ten digits, 138001380001 twelve",
    ],
)
def test_order_and_ticket_numbers_and_other_digits_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_the_stored_parse_matches_the_masked_text() -> None:
    text = "电话13800138000，订单202611180042，邮箱a@b.cn"
    parse = {
        "text": text,
        "intent": {"name": "order_status", "confidence": 0.97},
        "entities": [
            {"entity": "phone_number", "value": "13800138000", "start": 2, "end": 13},
            {"entity": "order_id", "value": "202611180042", "start": 16, "end": 28},
            {"entity": "email", "value": "a@b.cn", "start": 32, "end": 38},
        ],
    }
    out = mask_parse(parse)
    assert out["text"] == "电话[phone]，订单202611180042，邮箱[email]"
    assert out["intent"] == parse["intent"]
    values = [
        (e["entity"], e["value"], out["text"][e["start"] : e["end"]]) for e in out["entities"]
    ]
    assert values == [
        ("phone_number", "[phone]", "[phone]"),
        ("order_id", "202611180042", "202611180042"),
        ("email", "[email]", "[email]"),
    ]
    assert parse["text"] == text  # the caller's parse is not changed


def test_an_entity_inside_a_masked_span_is_masked_whatever_its_type() -> None:
    # A lenient ticket pattern could take part of a phone number: its value must not leak it.
    out = mask_parse(
        {
            "text": "T13800138000",
            "entities": [{"entity": "ticket_id", "value": "T1380013", "start": 0, "end": 8}],
        }
    )
    assert out["text"] == "T[phone]"
    assert out["entities"][0]["value"] == "[phone]"


def test_spans_say_where_each_replacement_went() -> None:
    result = mask("a 13800138000 b x@y.io c")
    assert result.text == "a [phone] b [email] c"
    assert [(s.start, s.end, s.token, s.new_start) for s in result.spans] == [
        (2, 13, "[phone]", 2),
        (16, 22, "[email]", 12),
    ]
    assert result.position(23) == result.text.index("c")


async def test_with_masking_on_the_bot_reads_the_original_and_the_store_keeps_it_masked(
    make_client: AppFactory,
) -> None:
    def masking(raw: dict[str, Any]) -> None:
        raw["privacy"] = {"mask_transcripts": True}

    client = await make_client(edit=masking)
    text = "我的订单202611180042到哪了？有事打我电话13800138000"
    resp = await client.post("/webhooks/rest/webhook", json={"sender": "p1", "message": text})
    assert resp.status == 200
    replies = await resp.json()
    assert replies[-1]["custom"]["intent"] == "order_status"

    store = client.app[CONTEXT].store
    assert store is not None
    customer = await store.customers.find("rest", "p1")
    assert customer is not None
    [said] = [m for m in await store.messages.of_customer(customer.id) if m.sender == "customer"]
    assert said.text == "我的订单202611180042到哪了？有事打我电话[phone]"
    assert said.parse is not None and "13800138000" not in str(said.parse)
    entities = {e["entity"]: e["value"] for e in said.parse["entities"]}
    # The NLU found the number, so it read the original; only its value was masked.
    assert entities == {"order_id": "202611180042", "phone_number": "[phone]"}
    assert said.parse["text"] == said.text
