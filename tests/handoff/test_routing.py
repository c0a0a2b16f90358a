from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import HandoffSection, SkillGroup
from handoff.routing import Router

SH = ZoneInfo("Asia/Shanghai")
R = Router(HandoffSection())


def test_complaints_go_to_the_complaints_group() -> None:
    assert R.group_for("complaint", "question_product", "product/phone") == "complaints"


def test_the_intent_decides_then_the_longest_matching_category_then_the_default() -> None:
    assert R.group_for("explicit_request", "question_payment", None) == "billing"
    assert R.group_for("failed_turns", "out_of_scope", "service/payment/invoices") == "billing"
    assert R.group_for("failed_turns", "out_of_scope", None) == "after_sales"


def test_service_hours_and_the_next_opening() -> None:
    assert R.is_open("billing", datetime(2026, 11, 24, 9, 0, tzinfo=SH))
    assert not R.is_open("billing", datetime(2026, 11, 24, 21, 0, tzinfo=SH))
    late = datetime(2026, 11, 24, 22, 15, tzinfo=SH)
    assert R.next_open("billing", late) == datetime(2026, 11, 25, 9, 0, tzinfo=SH)
    early = datetime(2026, 11, 24, 6, 0, tzinfo=SH)
    assert R.next_open("billing", early) == datetime(2026, 11, 24, 9, 0, tzinfo=SH)


def test_overnight_hours_wrap_past_midnight() -> None:
    night = Router(
        HandoffSection(skill_groups={"n": SkillGroup(hours="22:00-06:00")}, default_group="n")
    )
    assert night.is_open("n", datetime(2026, 11, 24, 23, 0, tzinfo=SH))
    assert night.is_open("n", datetime(2026, 11, 25, 5, 0, tzinfo=SH))
    assert not night.is_open("n", datetime(2026, 11, 25, 12, 0, tzinfo=SH))
