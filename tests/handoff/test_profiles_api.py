"""Customer profiles through the real app: the sample shop imported, a high-value customer asking
for a person goes ahead of a stranger who asked first, and the queue carries their segments;
agents read and edit the profile and its tags (checked, recorded, CSRF-guarded, visible only to
those who may see the customer); supervisors see and recompute the segments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.clock import SimulatedClock, use_clock
from bot.store.sql_store import SqlStore
from tests.apps import AppFactory, add_agent, ask_for_a_person, login, store_of
from tests.bot.store.test_customer_profiles import load_samples

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CUSTOMERS = "/api/agent/customers"


async def _json(resp: Any, status: int = 200) -> Any:
    body = await resp.json()
    assert resp.status == status, body
    return body


async def test_segments_reach_the_queue_and_raise_a_high_value_customer(
    make_client: AppFactory,
) -> None:
    with use_clock(SimulatedClock(NOW)):
        client = await make_client(always_open=True)
        store: SqlStore = store_of(client)
        await add_agent(client, "amy", skills=["after_sales"])
        await load_samples(store)
        await store.profiles.recompute()
        stranger = await ask_for_a_person(client, "stranger")
        wang = await ask_for_a_person(client, "sample-wang")  # C1001, imported with this identity
        amy = await login(client, "amy")
        queue = (await _json(await client.get("/api/agent/queue", headers=amy.cookie)))["queue"]
    assert [q["conversation_id"] for q in queue] == [wang, stranger]  # asked second, served first
    first, second = queue
    assert first["priority"] == second["priority"] + 1  # customers.priority_boosts: high_value 1
    assert first["customer_name"] == "王芳"
    assert (first["lifecycle"], first["value_segment"]) == ("active", "high")
    assert first["auto_tags"] == ["high_value"] and first["tags"] == ["follows_new_products"]
    assert second["lifecycle"] == "new" and second["value_segment"] is None


async def test_an_agent_reads_and_edits_the_profile_and_its_tags(make_client: AppFactory) -> None:
    with use_clock(SimulatedClock(NOW)):
        client = await make_client(always_open=True)
        store = store_of(client)
        await add_agent(client, "amy", skills=["after_sales"])
        await add_agent(client, "bill", skills=["billing"])
        await load_samples(store)
        await store.profiles.recompute()
        await ask_for_a_person(client, "sample-wang")
        wang = await store.profiles.by_ref("C1001")
        amy, bill = await login(client, "amy"), await login(client, "bill")
        path = f"{CUSTOMERS}/{wang.id}"

        profile = await _json(await client.get(f"{path}/profile", headers=amy.cookie))
        c = profile["customer"]
        assert (c["external_ref"], c["email"], c["region"]) == (
            "C1001",
            "wang.fang@example.cn",
            "上海",
        )
        assert (c["lifecycle"], c["value_segment"], c["yearly_spend_cents"]) == (
            "active",
            "high",
            1_259_700,
        )
        assert c["all_tags"] == ["follows_new_products", "high_value"]
        assert [o["order_id"] for o in profile["orders"]] == [
            "202611200317",
            "202611180042",
            "202605030011",
        ]
        assert profile["identities"] == [{"channel": "rest", "external_id": "sample-wang"}]
        assert profile["priority_boost"] == 1
        assert profile["segments"]["counts"]["value:high"] == 4

        # Bill's group (billing) has nothing of hers: he may not look, nor edit.
        assert (await client.get(f"{path}/profile", headers=bill.cookie)).status == 403
        refused = await client.post(f"{path}/profile", headers=bill.writes, json={"region": "x"})
        assert refused.status == 403
        # A console write without the CSRF header is refused before anything is read.
        no_csrf = await client.post(f"{path}/profile", headers=amy.cookie, json={"region": "x"})
        assert no_csrf.status == 403
        bad = await _json(
            await client.post(f"{path}/profile", headers=amy.writes, json={"email": "wang at x"}),
            400,
        )
        assert bad["message"] == "email: 'wang at x' is not an e-mail address"
        unknown = await _json(
            await client.post(f"{path}/profile", headers=amy.writes, json={"vip": True}), 400
        )
        assert "unknown field(s): vip" in unknown["message"]
        nothing = await client.post(f"{path}/profile", headers=amy.writes, json={})
        assert nothing.status == 400

        edited = await _json(
            await client.post(
                f"{path}/profile",
                headers=amy.writes,
                json={"phone": "+86 139 0000 1111", "region": "杭州", "email": None},
            )
        )
        assert (edited["customer"]["phone"], edited["customer"]["region"]) == (
            "+86 139 0000 1111",
            "杭州",
        )
        assert edited["customer"]["email"] is None

        tagged = await _json(
            await client.post(f"{path}/tags", headers=amy.writes, json={"add": ["VIP 客户"]})
        )
        assert tagged["customer"]["tags"] == ["follows_new_products", "vip_客户"]
        computed = await _json(
            await client.post(f"{path}/tags", headers=amy.writes, json={"add": ["high_value"]}),
            400,
        )
        assert "computed from the data" in computed["message"]
        not_a_list = await client.post(f"{path}/tags", headers=amy.writes, json={"add": "vip"})
        assert not_a_list.status == 400
        untagged = await _json(
            await client.post(
                f"{path}/tags", headers=amy.writes, json={"remove": ["follows_new_products"]}
            )
        )
        assert untagged["customer"]["tags"] == ["vip_客户"]

        after = await _json(await client.get(f"{path}/profile", headers=amy.cookie))
        # The transcript's customer (the agent API) shows the same profile.
        legacy = await _json(await client.get(path, headers=amy.cookie))
        missing = await client.get(f"{CUSTOMERS}/nobody/profile", headers=amy.cookie)
    changes = [(ch["actor"], ch["field"], ch["new"]) for ch in after["changes"]]
    assert changes[:3] == [
        ("amy", "tags", "vip_客户"),
        ("amy", "tags", "follows_new_products, vip_客户"),
        ("amy", "email", None),
    ]
    assert ("amy", "region", "杭州") in changes and ("amy", "phone", "+86 139 0000 1111") in changes
    assert legacy["customer"]["region"] == "杭州" and legacy["customer"]["auto_tags"] == [
        "high_value"
    ]
    assert missing.status == 404


async def test_supervisors_see_and_recompute_the_segments(make_client: AppFactory) -> None:
    with use_clock(SimulatedClock(NOW)):
        client = await make_client()
        store = store_of(client)
        await add_agent(client, "amy", skills=["after_sales"])
        await add_agent(client, "sue", role="supervisor")
        await load_samples(store)
        amy, sue = await login(client, "amy"), await login(client, "sue")
        assert (await client.get("/api/agent/segments", headers=amy.cookie)).status == 403
        refused = await client.post("/api/agent/segments/recompute", headers=amy.writes)
        assert refused.status == 403
        run = await _json(await client.post("/api/agent/segments/recompute", headers=sue.writes))
        seen = await _json(await client.get("/api/agent/segments", headers=sue.cookie))
        # A supervisor may open any customer's profile.
        c1013 = await store.profiles.by_ref("C1013")
        profile = await _json(
            await client.get(f"{CUSTOMERS}/{c1013.id}/profile", headers=sue.cookie)
        )
    assert run["segments"]["customers"] == 20
    assert run["segments"]["counts"]["lifecycle:churned"] == 4
    assert run["segments"]["high_min_cents"] == 929_800
    assert seen["segments"] == run["segments"]
    assert profile["customer"]["name"] == "吴婷" and profile["orders"] == []
