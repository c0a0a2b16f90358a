"""The administered settings and agents in the store, on SQLite and PostgreSQL: the seed from the
files happens once, every change bumps the version other instances poll and leaves an audit
entry in the same transaction, and the last admin cannot be demoted or disabled."""

from __future__ import annotations

import asyncio

import pytest

from bot.config import HandoffSection, SkillGroup
from bot.errors import InputError
from bot.store.admin_settings import SqlAdminSettings, skill_group
from bot.store.audit import SqlAuditLog
from bot.store.errors import NotFoundError
from bot.store.live_settings import LiveSettings
from bot.store.sql_store import SqlStore
from bot.store.staff import SqlStaff

CANNED = {"zh": [{"title": "问候", "text": "您好"}], "en": [{"title": "Hi", "text": "Hello"}]}


async def _live(store: SqlStore) -> LiveSettings:
    return await LiveSettings.open(
        SqlAdminSettings(store.db), HandoffSection().skill_groups, CANNED
    )


async def test_the_files_seed_the_tables_once(store: SqlStore) -> None:
    settings = SqlAdminSettings(store.db)
    assert await settings.version() == 0
    live = await _live(store)
    snap = live.snapshot
    assert list(snap.groups) == list(HandoffSection().skill_groups)  # routing order kept
    assert snap.groups["billing"].hours == "09:00-21:00"
    assert snap.groups["billing"].display_name == {"zh": "支付与账单", "en": "Billing"}
    assert [c.title for c in snap.canned] == ["Hi", "问候"]
    # A second start (or a second instance) seeds nothing: the tables are the source now.
    assert not await settings.seed({"other": SkillGroup()}, {"zh": [], "en": []})
    assert list((await settings.snapshot()).groups) == list(snap.groups)
    entries = await SqlAuditLog(store.db).entries()
    assert [(e.actor, e.action) for e in entries] == [("config.yml", "settings.seed")]


async def test_a_change_bumps_the_version_and_another_instance_picks_it_up(
    store: SqlStore,
) -> None:
    here, there = await _live(store), await _live(store)
    before = here.snapshot.version
    await here.settings.put_group("ada", "billing", skill_group({"hours": "10:00-18:00"}))
    assert await here.refresh() and await there.refresh()
    assert there.snapshot.version == before + 1
    assert there.groups["billing"].hours == "10:00-18:00"
    assert not await there.refresh()  # nothing new: no reload
    entry = (await SqlAuditLog(store.db).entries(limit=1))[0]
    assert (entry.actor, entry.action, entry.target) == ("ada", "group.update", "group:billing")
    assert entry.changes["hours"] == ["09:00-21:00", "10:00-18:00"]
    assert entry.changes["intents"] == [["question_payment"], []]


async def test_holidays_and_canned_responses_are_audited(store: SqlStore) -> None:
    live = await _live(store)
    s = live.settings
    day = await s.add_holiday("sue", "2027-02-06", "春节", skill_group=None, hours=None)
    with pytest.raises(InputError, match="already set for every group"):
        await s.add_holiday("sue", "2027-02-06", "again", skill_group=None, hours=None)
    with pytest.raises(InputError, match="no group 'nope'"):
        await s.add_holiday("sue", "2027-02-07", "x", skill_group="nope", hours=None)
    with pytest.raises(InputError, match="day: a date"):
        await s.add_holiday("sue", "2027-13-01", "x", skill_group=None, hours=None)
    short = await s.add_holiday(
        "sue", "2027-02-07", "初二", skill_group="billing", hours="10:00-16:00"
    )
    made = await s.add_canned("sue", "en", "Refund", "Refunds take 1–3 days.")
    await s.update_canned("sue", made.id, title="Refund time", text="Refunds take 1–3 days.")
    with pytest.raises(InputError, match="title: 1 to 100"):
        await s.update_canned("sue", made.id, title=" ", text="x")
    await s.delete_canned("sue", made.id)
    with pytest.raises(NotFoundError):
        await s.delete_canned("sue", made.id)
    await s.delete_holiday("sue", day.id)
    await live.refresh()
    assert [(h.day, h.skill_group, h.hours) for h in live.snapshot.holidays] == [
        ("2027-02-07", "billing", "10:00-16:00")
    ]
    assert short.name == "初二"
    actions = [e.action for e in await SqlAuditLog(store.db).entries()]
    assert actions[:6] == [
        "holiday.delete",
        "canned.delete",
        "canned.update",
        "canned.add",
        "holiday.add",
        "holiday.add",
    ]


async def test_a_group_with_waiting_chats_or_the_default_group_cannot_be_deleted(
    store: SqlStore,
) -> None:
    live = await _live(store)
    s = live.settings
    with pytest.raises(InputError, match="default or overflow"):
        await s.delete_group("ada", "after_sales", keep={"after_sales"})
    customer = await store.customers.for_identity("web", "c1")
    conv = await store.conversations.active(customer.id, "web")
    await store.handoffs.queue(conv.id, "explicit_request", "billing")
    with pytest.raises(InputError, match="1 chat"):
        await s.delete_group("ada", "billing", keep=set())
    await store.agents.add("amy", "Amy", skills=["tech_support", "billing"])
    await s.add_holiday("ada", "2027-01-01", "New Year", skill_group="tech_support", hours=None)
    await s.delete_group("ada", "tech_support", keep=set())
    await live.refresh()
    assert "tech_support" not in live.groups
    assert (await store.agents.get("amy")).skills == ("billing",)
    assert live.snapshot.holidays == ()
    entry = (await SqlAuditLog(store.db).entries(limit=1))[0]
    assert entry.changes == {"removed_from_agents": ["amy"], "holidays_removed": 1}


async def test_staff_changes_are_audited_and_the_last_admin_stays(store: SqlStore) -> None:
    staff = SqlStaff(store.db)
    ada = await staff.add(
        "cli", "ada", "Ada", role="admin", skills=[], languages=["en"], max_concurrent=3
    )
    assert ada.role == "admin" and not ada.disabled
    with pytest.raises(InputError, match="exists already"):
        await staff.add(
            "cli", "ada", "Ada", role="agent", skills=[], languages=[], max_concurrent=1
        )
    with pytest.raises(InputError, match="last active admin"):
        await staff.update("ada", "ada", role="supervisor")
    with pytest.raises(InputError, match="last active admin"):
        await staff.set_disabled("someone", "ada", True)
    await staff.add(
        "ada", "amy", "Amy", role="agent", skills=["billing"], languages=["zh"], max_concurrent=2
    )
    amy = await staff.set_disabled("ada", "amy", True)
    assert amy.disabled and amy.status == "offline"
    with pytest.raises(InputError, match="disabled; enable them first"):
        await staff.update("ada", "amy", status="online")
    assert not (await staff.set_disabled("ada", "amy", False)).disabled
    updated = await staff.update("ada", "amy", max_concurrent=4, skills=["billing"])
    assert updated.max_concurrent == 4
    log = await SqlAuditLog(store.db).entries()
    assert [(e.actor, e.action, e.target) for e in log] == [
        ("ada", "agent.update", "agent:amy"),
        ("ada", "agent.enable", "agent:amy"),
        ("ada", "agent.disable", "agent:amy"),
        ("ada", "agent.add", "agent:amy"),
        ("cli", "agent.add", "agent:ada"),
    ]
    assert log[0].changes == {"max_concurrent": [2, 4]}  # unchanged skills are not listed
    assert (await SqlAuditLog(store.db).entries(limit=2, before_id=log[1].id))[0].id == log[2].id


async def test_the_polling_task_reloads_a_change_made_elsewhere(store: SqlStore) -> None:
    here, there = await _live(store), await _live(store)
    there.start(every=0.05)
    try:
        await here.settings.add_canned("sue", "zh", "发票", "电子发票会发送到您的邮箱。")
        for _ in range(100):
            if any(c["title"] == "发票" for c in there.canned["zh"]):
                break
            await asyncio.sleep(0.05)
        assert [c["title"] for c in there.canned["zh"]] == ["问候", "发票"]
    finally:
        await there.stop()
    assert there._task is None


async def test_the_migration_keeps_the_agents_both_ways(store: SqlStore) -> None:
    from tests.bot.store.test_turns import _migrate

    staff = SqlStaff(store.db)
    await staff.add(
        "cli", "amy", "Amy", role="agent", skills=[], languages=["zh"], max_concurrent=2
    )
    await staff.set_disabled("cli", "amy", True)
    await _migrate(store, "0010")  # down: the administration tables and disabled_at go
    await _migrate(store, "head")  # up again over the existing rows
    amy = await store.agents.get("amy")
    assert (amy.max_concurrent, amy.disabled) == (2, False)  # the flag went with its column
    live = await _live(store)  # an empty settings table seeds again
    assert "billing" in live.groups and await SqlAdminSettings(store.db).version() == 1
