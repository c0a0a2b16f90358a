"""The supervisor analytics API on the real app: who may read it, the figures for conversations
made through the real webhook and agent API, the CSV export, and the queries it refuses."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.apps import HOOK, AppFactory, Client, add_agent
from tests.apps import login as console_login

API = "/api/supervisor/analytics"
GIBBERISH = ("qwzx plorb", "vrrm kzzt blaf", "xyzzy frobnicate quux")


@pytest.fixture
async def client(make_client: AppFactory) -> Client:
    client = await make_client(always_open=True)
    await add_agent(client, "amy", role="agent", skills=["after_sales"], languages=["zh", "en"])
    await add_agent(client, "sue", role="supervisor")
    return client


async def login(client: Client, username: str) -> dict[str, str]:
    """The session cookie and CSRF header of a fresh login (sent explicitly, not from the jar)."""
    return (await console_login(client, username)).writes


async def say(client: Client, sender: str, text: str) -> str:
    resp = await client.post(HOOK, json={"sender": sender, "message": text})
    assert resp.status == 200, await resp.text()
    return resp.headers["X-Relaydesk-Status"]


async def make_conversations(client: Client) -> None:
    """Three customers: one the bot answers from the knowledge base, one it fails three times
    (escalated), one who asks for a person; Amy takes both handoffs, and the last one rates."""
    assert await say(client, "kb-1", "How long does delivery take?") == "bot"
    statuses = [await say(client, "lost-1", line) for line in GIBBERISH]
    assert statuses == ["bot", "bot", "queued"]
    assert await say(client, "human-1", "转人工") == "queued"
    amy = await login(client, "amy")
    queue = await (await client.get("/api/agent/queue", headers=amy)).json()
    assert len(queue["queue"]) == 2
    for item in queue["queue"]:
        path = f"/api/agent/conversations/{item['conversation_id']}"
        assert (await client.post(f"{path}/claim", headers=amy)).status == 200
        sent = await client.post(f"{path}/send", headers=amy, json={"text": "您好，我是 Amy"})
        assert sent.status == 200
        assert (await client.post(f"{path}/resolve", headers=amy)).status == 200
    assert await say(client, "human-1", "5 很满意") == "resolved"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def test_the_figures_are_for_supervisors_only(client: Client) -> None:
    for path in (API, f"{API}.csv?table=series"):
        resp = await client.get(path)
        assert resp.status == 401, path
        assert "log in at /console" in (await resp.json())["message"]
        amy = await login(client, "amy")
        refused = await client.get(path, headers=amy)
        assert refused.status == 403, path
        assert (await refused.json())["message"] == "supervisors and admins only"
    sue = await login(client, "sue")
    assert (await client.get(API, headers=sue)).status == 200


async def test_a_supervisor_reads_what_happened(client: Client) -> None:
    await make_conversations(client)
    sue = await login(client, "sue")
    resp = await client.get(f"{API}?from={today()}&to={today()}&granularity=day", headers=sue)
    assert resp.status == 200 and resp.content_type == "application/json"
    body = await resp.json()

    totals = body["totals"]
    assert totals["conversations"] == 3
    # kb-1's bot chat is still going: open, in no outcome figure (docs/analytics.md)
    assert totals["open"] == 1 and totals["closed"] == 2
    assert totals["contained"] == 0 and totals["containment_rate"] == 0.0
    assert totals["escalation_rate"] == 1.0 and totals["handoffs"] == 2
    assert totals["human_within_sla_rate"] == 1.0 and totals["sla_breaches"] == 0
    assert totals["ratings"] == 1 and totals["csat_rate"] == 1.0
    assert totals["csat_mean_100"] == 100.0
    assert [r["key"] for r in body["series"]] == [today()]
    assert body["series"][0]["conversations"] == 3
    reasons = {r["reason"]: r["count"] for r in body["escalation_reasons"]}
    assert reasons == {"explicit_request": 1, "failed_turns": 1}
    assert sum(b["count"] for b in body["first_response"]["human"]) == 2
    assert body["first_response"]["sla_seconds"] == 30
    assert body["first_response"]["human"][-1]["le"] is None
    agents = {r["key"]: r["conversations"] for r in body["slices"]["agent"]}
    assert agents == {"(bot)": 1, "amy": 2}
    assert {r["key"] for r in body["slices"]["channel"]} == {"rest"}
    gap_texts = {e for g in body["knowledge_gaps"] for e in g["examples"]}
    assert set(GIBBERISH) <= gap_texts
    assert "How long does delivery take?" not in gap_texts  # answered from the knowledge base
    assert body["top_problems"]["categories"], "the knowledge answer has a category"
    assert body["comments"]["count"] == 1
    assert body["comments"]["phrases"]["zh"], "key phrases of the Chinese comment"

    # Slice filters keep only the matching conversations.
    amys = await (await client.get(f"{API}?agent=amy", headers=sue)).json()
    assert amys["totals"]["conversations"] == 2 and amys["filters"] == {"agent": "amy"}
    web = await (await client.get(f"{API}?channel=web", headers=sue)).json()
    assert web["totals"]["conversations"] == 0 and web["series"] == []


async def test_each_table_downloads_as_csv_with_a_bom(client: Client) -> None:
    await make_conversations(client)
    sue = await login(client, "sue")
    resp = await client.get(f"{API}.csv?table=series&from={today()}&to={today()}", headers=sue)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="relaydesk-series-')
    raw = await resp.read()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["key"] == today() and rows[0]["conversations"] == "3"
    assert "containment_rate" in rows[0] and "csat_mean_100" in rows[0]

    headers = {
        "channel": "key",
        "skill_group": "key",
        "agent": "key",
        "language": "key",
        "reasons": "reason",
        "gaps": "label",
        "intents": "intent",
        "categories": "category",
    }
    for name, first in headers.items():
        got = await client.get(f"{API}.csv?table={name}", headers=sue)
        assert got.status == 200, name
        text = (await got.read()).decode("utf-8")
        assert text.startswith("\ufeff" + first), (name, text[:80])
    gaps = (await (await client.get(f"{API}.csv?table=gaps", headers=sue)).read()).decode()
    assert "qwzx plorb" in gaps
    # No breaches: the file still says what its columns would be.
    breaches = await client.get(f"{API}.csv?table=breaches", headers=sue)
    assert breaches.status == 200
    assert (await breaches.read()).decode().splitlines() == [
        "\ufeffconversation_id,customer_id,customer_name,channel,queued_at,skill_group,agent,"
        "agent_name,first_response_s,waiting"
    ]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("from=2026-13-01&to=2026-12-31", "dates are YYYY-MM-DD"),
        ("from=yesterday&to=today", "dates are YYYY-MM-DD"),
        ("from=2026-11-30&to=2026-11-01", "'to' is before 'from'"),
        ("from=2025-01-01&to=2026-06-30", "at most 366 days"),
        ("granularity=hour", "granularity 'hour'"),
        ("agent=" + "x" * 101, "at most 100 characters"),
    ],
)
async def test_bad_queries_are_refused(client: Client, query: str, words: str) -> None:
    sue = await login(client, "sue")
    for path in (API, f"{API}.csv"):
        resp = await client.get(f"{path}?{query}", headers=sue)
        assert resp.status == 400, (path, query)
        assert words in (await resp.json())["message"]


async def test_an_unknown_table_is_refused(client: Client) -> None:
    sue = await login(client, "sue")
    resp = await client.get(f"{API}.csv?table=everything", headers=sue)
    assert resp.status == 400
    message = (await resp.json())["message"]
    assert "table 'everything'" in message and "series" in message


async def test_an_unknown_filter_is_refused(client: Client) -> None:
    sue = await login(client, "sue")
    since = (datetime.now(UTC) - timedelta(days=6)).date().isoformat()
    resp = await client.get(f"{API}?from={since}&to={today()}&chanel=web", headers=sue)
    assert resp.status == 400
