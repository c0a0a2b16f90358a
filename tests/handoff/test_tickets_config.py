"""config.yml's `tickets` section is checked at start-up: levels in range, per-group levels
and follow-up groups naming skill groups that exist, a public address that is a web address."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.config import config_from_dict
from bot.errors import ConfigError

PIPELINE = [{"name": "LanguageDetector"}]


def _error(tickets: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"pipeline": PIPELINE, "tickets": tickets}, env={})
    return str(info.value)


def test_levels_fall_back_from_the_group_to_the_section() -> None:
    config = config_from_dict(
        {
            "pipeline": PIPELINE,
            "tickets": {
                "resolution_hours": 12,
                "groups": {"complaints": {"first_response_hours": 0.5}},
                "public_url": "https://support.example.com/",
            },
        },
        env={},
    )
    t = config.tickets
    assert t.first_response("complaints") == timedelta(minutes=30)
    assert t.first_response("after_sales") == timedelta(hours=2)
    assert t.resolution("complaints") == timedelta(hours=12)
    assert t.resolution("billing", cross_department=True) == timedelta(hours=48)
    assert t.escalate_after(None) == timedelta(minutes=10)
    assert t.public_url == "https://support.example.com"


@pytest.mark.parametrize(
    ("tickets", "named"),
    [
        ({"groups": {"nope": {"resolution_hours": 1}}}, "tickets.groups.nope is not a skill group"),
        ({"follow_up_groups": ["after_sale"]}, "tickets.follow_up_groups: after_sale"),
        ({"first_response_hours": 0}, "tickets.first_response_hours"),
        ({"groups": {"billing": {"typo_hours": 1}}}, "tickets.groups.billing.typo_hours"),
        ({"public_url": "support.example.com"}, "tickets.public_url"),
    ],
)
def test_bad_ticket_settings_are_named(tickets: dict[str, Any], named: str) -> None:
    assert named in _error(tickets)
