"""bot/proactive/decide.py: every reason a proactive message is held back, in the plan's order,
and when a message that falls in the quiet hours goes out instead."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from bot.config.proactive import ProactiveRule, ProactiveSection
from bot.proactive.decide import (
    CustomerFacts,
    Decision,
    decide,
    in_quiet_hours,
    quiet_hours_end,
    sends_within,
)

# 2026-12-07 06:00 UTC = 14:00 in Shanghai (not quiet there), 07:00 in Berlin (quiet).
NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    type: str
    occurred_at: datetime
    data: dict[str, Any]


def rule(**overrides: Any) -> ProactiveRule:
    spec: dict[str, Any] = {
        "name": "cart_reminder",
        "event": "cart_abandoned",
        "delay": "24h",
        "cooldown": "7d",
        "expires_if": ["order_paid"],
        "expires_after": "72h",
        "message": {"zh": "您的购物车里还有 {product}", "en": "You left {product} in your cart"},
    }
    spec.update(overrides)
    return ProactiveRule.model_validate(spec)


def section(**overrides: Any) -> ProactiveSection:
    spec: dict[str, Any] = {
        "enabled": True,
        "caps": {"high_value": 3, "default": 2, "window_days": 7},
        "quiet_hours": {"start": "21:00", "end": "09:00", "default_timezone": "Asia/Shanghai"},
    }
    spec.update(overrides)
    return ProactiveSection.model_validate(spec)


def facts(**overrides: Any) -> CustomerFacts:
    base = CustomerFacts(
        customer_id="C1001",
        value_band="mid",
        segments=frozenset({"lifecycle:active", "value:mid"}),
        tags=frozenset({"follows_new_products"}),
        language="zh",
        channels=frozenset({"web", "telegram"}),
        timezone="Asia/Shanghai",
    )
    return replace(base, **overrides)


def due_trigger(now: datetime = NOW) -> Event:
    """A cart abandoned 24 hours before `now`: the reminder is due right now."""
    return Event("cart_abandoned", now - timedelta(hours=24), {"product": "Kite X1"})


def decision(
    *,
    r: ProactiveRule | None = None,
    f: CustomerFacts | None = None,
    later: set[str] | None = None,
    now: datetime = NOW,
    s: ProactiveSection | None = None,
    trigger: Event | None = None,
) -> Decision:
    return decide(
        r or rule(),
        f or facts(),
        trigger or due_trigger(now),
        later or set(),
        now,
        s or section(),
    )


def test_a_due_message_to_an_eligible_customer_in_daytime_is_sent() -> None:
    assert decision() == Decision("send")


# --- 1. opt-out ----------------------------------------------------------------------------------


def test_an_opted_out_customer_is_never_sent_to() -> None:
    assert decision(f=facts(opted_out=True)) == Decision("suppress", "opt_out")


def test_opt_out_comes_before_every_other_reason() -> None:
    f = facts(opted_out=True, sent_times=(NOW - timedelta(hours=1),) * 5, language="en")
    got = decision(f=f, later={"order_paid"}, r=rule(conditions={"languages": ["zh"]}))
    assert got == Decision("suppress", "opt_out")


# --- 2. expiry -----------------------------------------------------------------------------------


def test_a_later_event_named_in_expires_if_cancels_the_message() -> None:
    assert decision(later={"order_paid"}) == Decision("cancel", "expired")


def test_later_events_of_other_types_do_not_cancel_it() -> None:
    assert decision(later={"page_dwell", "delivered"}) == Decision("send")


def test_a_message_older_than_expires_after_is_not_sent_at_all() -> None:
    # due at occurred_at + 24 h; expires 72 h later
    trigger = Event("cart_abandoned", NOW - timedelta(hours=24 + 72, seconds=1), {})
    assert decision(trigger=trigger) == Decision("suppress", "expired")


def test_a_message_at_exactly_its_expiry_still_goes_out() -> None:
    trigger = Event("cart_abandoned", NOW - timedelta(hours=24 + 72), {})
    assert decision(trigger=trigger) == Decision("send")


def test_without_expires_after_a_late_message_is_still_sent() -> None:
    trigger = Event("cart_abandoned", NOW - timedelta(days=60), {})
    assert decision(r=rule(expires_after=None), trigger=trigger) == Decision("send")


def test_expiry_comes_before_conditions_cooldown_and_cap() -> None:
    f = facts(
        language="en",
        sent_times=(NOW - timedelta(hours=2), NOW - timedelta(hours=1)),
        last_sent_by_rule={"cart_reminder": NOW - timedelta(hours=1)},
    )
    got = decision(f=f, later={"order_paid"}, r=rule(conditions={"languages": ["zh"]}))
    assert got == Decision("cancel", "expired")


# --- 3. conditions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "passes"),
    [
        ({"segments": ["lifecycle:active"]}, True),
        ({"segments": ["lifecycle:dormant", "value:mid"]}, True),  # any of them
        ({"segments": ["lifecycle:dormant", "value:high"]}, False),
        ({"tags": ["follows_new_products"]}, True),
        ({"tags": ["vip"]}, False),
        ({"languages": ["zh"]}, True),
        ({"languages": ["en"]}, False),
        ({"channels": ["telegram", "wechat"]}, True),
        ({"channels": ["wechat"]}, False),
        ({"segments": [], "tags": [], "languages": [], "channels": []}, True),  # anyone
        ({"segments": ["lifecycle:active"], "languages": ["en"]}, False),  # all lists hold
    ],
)
def test_conditions_on_segment_tag_language_and_channel(
    conditions: dict[str, list[str]], passes: bool
) -> None:
    expected = Decision("send") if passes else Decision("suppress", "conditions")
    assert decision(r=rule(conditions=conditions)) == expected


# --- 4. cooldown (per rule) ----------------------------------------------------------------------


def test_the_same_rule_within_its_cooldown_is_suppressed() -> None:
    last = NOW - timedelta(days=7) + timedelta(seconds=1)
    f = facts(last_sent_by_rule={"cart_reminder": last}, sent_times=(last,))
    assert decision(f=f) == Decision("suppress", "cooldown")


def test_the_cooldown_is_over_after_exactly_its_length() -> None:
    last = NOW - timedelta(days=7)
    f = facts(last_sent_by_rule={"cart_reminder": last}, sent_times=(last,))
    assert decision(f=f) == Decision("send")


def test_another_rules_recent_send_is_no_cooldown() -> None:
    last = NOW - timedelta(hours=1)
    f = facts(last_sent_by_rule={"payment_failed": last}, sent_times=(last,))
    assert decision(f=f) == Decision("send")


def test_a_rule_without_cooldown_may_send_again() -> None:
    last = NOW - timedelta(minutes=1)
    f = facts(last_sent_by_rule={"cart_reminder": last}, sent_times=(last,))
    assert decision(f=f, r=rule(cooldown="0s")) == Decision("send")


# --- 5. cap by value band, rolling window ---------------------------------------------------------


def sends(n: int, newest: timedelta = timedelta(hours=1)) -> tuple[datetime, ...]:
    """n sends within the week, oldest first, the newest `newest` ago."""
    return tuple(NOW - newest - timedelta(hours=10 * i) for i in reversed(range(n)))


@pytest.mark.parametrize(("band", "limit"), [("high", 3), ("mid", 2), ("low", 2), (None, 2)])
def test_the_cap_holds_at_exactly_the_limit_of_the_band(band: str | None, limit: int) -> None:
    below = facts(value_band=band, sent_times=sends(limit - 1))
    at = facts(value_band=band, sent_times=sends(limit))
    assert decision(f=below) == Decision("send")
    assert decision(f=at) == Decision("suppress", "cap")


def test_the_cap_is_a_rolling_window_a_send_exactly_a_week_old_has_left_it() -> None:
    old = (NOW - timedelta(days=7), NOW - timedelta(days=1))
    assert decision(f=facts(sent_times=old)) == Decision("send")
    inside = (NOW - timedelta(days=7) + timedelta(seconds=1), NOW - timedelta(days=1))
    assert decision(f=facts(sent_times=inside)) == Decision("suppress", "cap")


def test_the_caps_window_and_limits_come_from_the_section() -> None:
    s = section(caps={"high_value": 5, "default": 1, "window_days": 1})
    two_days = (NOW - timedelta(days=2),)
    assert decision(f=facts(sent_times=two_days), s=s) == Decision("send")
    assert decision(f=facts(sent_times=sends(1)), s=s) == Decision("suppress", "cap")
    assert decision(f=facts(value_band="high", sent_times=sends(4)), s=s) == Decision("send")


def test_a_cap_of_zero_sends_nothing() -> None:
    s = section(caps={"high_value": 0, "default": 0, "window_days": 7})
    assert decision(s=s) == Decision("suppress", "cap")


def test_cooldown_is_checked_before_the_cap() -> None:
    f = facts(sent_times=sends(2), last_sent_by_rule={"cart_reminder": NOW - timedelta(hours=1)})
    assert decision(f=f) == Decision("suppress", "cooldown")


def test_sends_within_counts_only_after_the_cutoff() -> None:
    times = (NOW - timedelta(days=9), NOW - timedelta(days=7), NOW - timedelta(days=2))
    assert sends_within(times, NOW - timedelta(days=7)) == 1
    assert sends_within((), NOW) == 0


# --- 6. quiet hours in the customer's time zone ---------------------------------------------------


def test_inside_quiet_hours_it_waits_until_they_end_in_the_customers_zone() -> None:
    # 22:30 in Shanghai (14:30 UTC): quiet until 09:00 Shanghai tomorrow = 01:00 UTC.
    now = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
    got = decision(now=now)
    assert got == Decision("wait", "quiet_hours", datetime(2026, 12, 8, 1, 0, tzinfo=UTC))


def test_after_midnight_it_waits_until_the_same_mornings_end() -> None:
    # 02:00 in Shanghai on the 8th (18:00 UTC on the 7th): quiet until 09:00 on the 8th.
    now = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    got = decision(now=now)
    assert got == Decision("wait", "quiet_hours", datetime(2026, 12, 8, 1, 0, tzinfo=UTC))


def test_the_same_instant_is_quiet_in_one_zone_and_not_in_another() -> None:
    # 06:00 UTC: 14:00 in Shanghai (send), 01:00 in New York (wait until 09:00 New York).
    assert decision(f=facts(timezone="Asia/Shanghai")) == Decision("send")
    got = decision(f=facts(timezone="America/New_York"))
    assert got == Decision("wait", "quiet_hours", datetime(2026, 12, 7, 14, 0, tzinfo=UTC))


def test_evening_in_new_york_crosses_midnight_into_the_next_day() -> None:
    # 2026-12-08 03:00 UTC = 22:00 on the 7th in New York: wait until 09:00 on the 8th.
    now = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
    got = decision(now=now, f=facts(timezone="America/New_York"))
    assert got == Decision("wait", "quiet_hours", datetime(2026, 12, 8, 14, 0, tzinfo=UTC))


def test_at_the_windows_end_the_message_goes_out() -> None:
    now = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    assert decision(now=now) == Decision("send")
    start = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)  # 21:00 Shanghai: quiet from here
    assert decision(now=start).action == "wait"


@pytest.mark.parametrize("zone", [None, "", "Mars/Olympus_Mons"])
def test_an_unknown_or_missing_time_zone_uses_the_default(zone: str | None) -> None:
    now = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    got = decision(now=now, f=facts(timezone=zone))
    assert got == Decision("wait", "quiet_hours", datetime(2026, 12, 8, 1, 0, tzinfo=UTC))


def test_a_window_within_one_day_also_works() -> None:
    s = section(quiet_hours={"start": "12:00", "end": "14:00", "default_timezone": "UTC"})
    noon = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    assert decision(now=noon, s=s, f=facts(timezone=None)) == Decision(
        "wait", "quiet_hours", datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    )
    assert decision(now=NOW, s=s, f=facts(timezone=None)) == Decision("send")


def test_without_quiet_hours_it_sends_at_night() -> None:
    now = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
    assert decision(now=now, s=section(quiet_hours=None)) == Decision("send")


def test_a_message_that_would_expire_before_the_quiet_hours_end_is_dropped() -> None:
    r = rule(delay="0s", expires_after="1h")
    now = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)  # 22:30 Shanghai
    trigger = Event("cart_abandoned", now - timedelta(minutes=5), {})
    assert decision(r=r, now=now, trigger=trigger) == Decision("suppress", "expired")


def test_the_cap_is_checked_before_the_quiet_hours() -> None:
    now = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
    f = facts(sent_times=tuple(now - timedelta(hours=h) for h in (5, 3)))
    assert decision(now=now, f=f) == Decision("suppress", "cap")


def test_quiet_hours_across_a_daylight_saving_change_end_at_local_nine() -> None:
    # Berlin leaves summer time on 2026-10-25: 09:00 local is 08:00 UTC that morning.
    now = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 local, summer time
    end = quiet_hours_end(
        now, "Europe/Berlin", *_hours("21:00", "09:00"), default_timezone="Asia/Shanghai"
    )
    assert end == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)


def _hours(start: str, end: str) -> tuple[time, time]:
    q = section(quiet_hours={"start": start, "end": end}).quiet_hours
    assert q is not None
    return q.start, q.end


def test_in_quiet_hours_is_half_open() -> None:
    start, end = _hours("21:00", "09:00")
    times = [(20, 59), (21, 0), (23, 59), (0, 0), (8, 59), (9, 0)]
    assert [in_quiet_hours(time(h, m), start, end) for h, m in times] == [
        False,
        True,
        True,
        True,
        True,
        False,
    ]


def test_a_rule_that_opts_out_of_quiet_hours_sends_at_night() -> None:
    """The dwell prompt goes only to an open widget: the visitor is there, so no hour is too
    late; every other rule still waits."""
    night = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    assert decision(now=night, r=rule(quiet_hours=False)) == Decision("send")
    assert decision(now=night, r=rule()).action == "wait"
