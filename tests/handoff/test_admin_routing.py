"""Routing reads the administered groups, hours and holidays at decision time: a change in the
database reaches the router of every instance without a restart."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import HandoffSection
from bot.store.admin_settings import SqlAdminSettings, skill_group
from bot.store.live_settings import LiveSettings
from bot.store.sql_store import SqlStore
from handoff.routing import Router

SH = ZoneInfo("Asia/Shanghai")
TUESDAY_10 = datetime(2027, 2, 9, 10, 0, tzinfo=SH)


async def _router(store: SqlStore) -> tuple[Router, LiveSettings]:
    h = HandoffSection()
    live = await LiveSettings.open(SqlAdminSettings(store.db), h.skill_groups, {})
    return Router(h, live), live


async def test_a_holiday_closes_the_group_and_the_next_opening_skips_it(store: SqlStore) -> None:
    router, live = await _router(store)
    assert router.is_open("billing", TUESDAY_10)
    settings = live.settings
    await settings.add_holiday("sue", "2027-02-09", "春节", skill_group=None, hours=None)
    await settings.add_holiday("sue", "2027-02-10", "初三", skill_group=None, hours=None)
    await settings.add_holiday(
        "sue", "2027-02-11", "初四", skill_group="billing", hours="13:00-17:00"
    )
    assert router.is_open("billing", TUESDAY_10)  # not yet refreshed: the old snapshot
    await live.refresh()
    assert not router.is_open("billing", TUESDAY_10)
    assert router.next_open("billing", TUESDAY_10) == datetime(2027, 2, 11, 13, 0, tzinfo=SH)
    # The group's own special hours apply to it only; others open as usual that day.
    assert router.next_open("pre_sales", TUESDAY_10) == datetime(2027, 2, 11, 9, 0, tzinfo=SH)
    assert not router.is_open("billing", datetime(2027, 2, 11, 17, 0, tzinfo=SH))


async def test_changed_hours_and_a_new_group_route_on_the_other_instance(store: SqlStore) -> None:
    (_, writer), (reader, reader_live) = await _router(store), await _router(store)
    assert reader.group_for("failed_turns", "question_payment", None) == "billing"
    await writer.settings.put_group(
        "ada",
        "vip_billing",
        skill_group({"intents": ["question_payment"], "hours": "00:00-24:00"}),
    )
    await writer.settings.put_group("ada", "billing", skill_group({"hours": "08:00-09:00"}))
    await reader_live.refresh()  # what its polling task does every two seconds
    assert reader.group_for("failed_turns", "question_payment", None) == "vip_billing"
    assert "vip_billing" in reader.settings.skill_groups
    assert not reader.is_open("billing", TUESDAY_10)
    assert reader.is_open("vip_billing", TUESDAY_10)
