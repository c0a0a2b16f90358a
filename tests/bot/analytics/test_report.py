"""`relaydesk report`: the HTML page, its charts and its tables, from a stored month; and the
report agreeing with the dashboard's API on the same database."""

from __future__ import annotations

import asyncio
import calendar
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.analytics.summary import Period
from bot.cli import main
from bot.errors import InputError
from bot.server.context import CONTEXT
from bot.store import models as m
from bot.store.sql_store import SqlStore
from handoff.console.accounts import Accounts
from tests.apps import FAST, AppFactory, Client, ask_for_a_person, login, say, store_of

REPO = Path(__file__).resolve().parents[3]


async def _fill(url: str) -> None:
    store = await SqlStore.open(url)
    try:
        start = await store.turns.begin("web", "v1", "你们卖火星车吗")
        await store.turns.finish(
            start.conversation.id,
            start.inbound.id,
            {
                "intent": {"name": "out_of_scope", "confidence": 0.9},
                "language": "zh",
                "turn": {"failed": True},
            },
            [{"text": "抱歉，没听懂"}],
        )
    finally:
        await store.close()


def test_the_report_writes_html_charts_and_csv(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    asyncio.run(_fill(url))
    now = datetime.now(UTC)
    target = f"{now.year}-{now.month:02d}"  # the conversation was stored just now
    out = tmp_path / "report"
    code = main(
        [
            "report",
            "--config",
            str(REPO / "config.yml"),
            "--month",
            target,
            "--out",
            str(out),
            "--db",
            url,
            "--no-model",
        ]
    )
    assert code == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    for chart in ("trend", "first_response", "reasons", "problems", "categories"):
        assert (out / f"{chart}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{chart}.png"' in page
    assert "你们卖火星车吗" in page  # the knowledge gap, in the gaps table
    with (out / "series.csv").open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and rows[0]["conversations"] == "1"
    # The bot chat was stored a moment ago: still open, so in no outcome figure yet.
    assert rows[0]["open"] == "1" and rows[0]["closed"] == "0"
    assert rows[0]["containment_rate"] == "" and rows[0]["resolution_p50_s"] == ""
    assert rows[0]["first_contact_resolution_rate"] == ""


def test_a_month_runs_from_its_first_day_to_the_next_months() -> None:
    nov = Period.month("2026-11")
    assert (nov.start.day, nov.end.month, nov.end.day) == (1, 12, 1)
    dec = Period.month("2026-12")
    assert (dec.end.year, dec.end.month) == (2027, 1)


def test_a_bad_month_is_a_clear_error() -> None:
    for bad in ("2026-13", "11/2026", ""):
        with pytest.raises(InputError, match="month"):
            Period.month(bad)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _as_csv(value: Any) -> str:
    return "" if value is None else str(value)


async def test_the_report_cli_and_the_dashboard_api_agree(
    make_client: AppFactory, tmp_path: Path
) -> None:
    """One database, two readers: `relaydesk report` and GET /api/supervisor/analytics give
    the same figures, row for row (one computation: bot/analytics/summary.py summary_for).
    On it: a bot chat still going (open), a bot chat idle past the session expiry (closed),
    a chat Amy Chen answered late and resolved (a breach, named), and one still queued."""
    client: Client = await make_client(always_open=True)
    store = store_of(client)
    await store.agents.add("amy", "Amy Chen", role="agent", status="online", skills=["after_sales"])
    await store.agents.add("sue", "Sue Park", role="supervisor")
    for who in ("amy", "sue"):
        await Accounts(store, hasher=FAST).set_password(who, "a long enough password")
    await say(client, "live-1", "How long does delivery take?")
    await say(client, "idle-1", "How long does delivery take?")
    handled = await ask_for_a_person(client, "human-1")
    await ask_for_a_person(client, "waiting-1")
    amy = await login(client, "amy")
    path = f"/api/agent/conversations/{handled}"
    assert (await client.post(f"{path}/claim", headers=amy.writes)).status == 200
    sent = await client.post(f"{path}/send", headers=amy.writes, json={"text": "您好"})
    assert sent.status == 200
    assert (await client.post(f"{path}/resolve", headers=amy.writes)).status == 200
    idle = await store.customers.find("rest", "idle-1")
    assert idle is not None
    now = datetime.now(UTC)

    def backdate(s: Session) -> None:
        # idle-1 went quiet 90 minutes ago (the expiry is 60); Amy's customer waited 2 minutes.
        then = now - timedelta(minutes=90)
        convs = m.Conversation
        s.execute(
            update(convs)
            .where(convs.customer_id == idle.id)
            .values(created_at=then, updated_at=then)
        )
        s.execute(
            update(m.Message)
            .where(
                m.Message.conversation_id.in_(
                    s.query(convs.id).filter(convs.customer_id == idle.id).scalar_subquery()
                )
            )
            .values(created_at=then)
        )
        replied = s.query(m.Handoff).filter(m.Handoff.conversation_id == handled).one()
        reply = replied.first_agent_reply_at
        assert reply is not None
        replied.queued_at = reply - timedelta(minutes=2)
        s.execute(
            update(m.Handoff)
            .where(m.Handoff.conversation_id != handled)
            .values(queued_at=now - timedelta(minutes=3))
        )
        s.commit()

    await store.db.run(backdate)

    # The dashboard, over the report's month.
    first = (now - timedelta(minutes=90)).date().replace(day=1)
    month = f"{first.year}-{first.month:02d}"
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    sue = await login(client, "sue")
    resp = await client.get(f"/api/supervisor/analytics?from={first}&to={last}", headers=sue.cookie)
    assert resp.status == 200, await resp.text()
    api = await resp.json()
    totals = api["totals"]
    # The bot chat still going is open; the idle one closed where it went quiet.
    assert (totals["conversations"], totals["closed"], totals["open"]) == (4, 2, 2)
    assert totals["contained"] == 1 and totals["containment_rate"] == 0.5
    assert totals["escalation_rate"] == 0.5 and totals["handoffs"] == 2
    assert totals["sla_breaches"] == 2
    breaches = {b["conversation_id"]: b for b in api["sla_breaches"]}
    assert breaches[handled]["agent"] == "amy"
    assert breaches[handled]["agent_name"] == "Amy Chen"
    assert breaches[handled]["first_response_s"] == pytest.approx(120, abs=1)
    assert breaches[handled]["channel"] == "rest"
    waiting = [b for cid, b in breaches.items() if cid != handled]
    assert len(waiting) == 1 and waiting[0]["waiting"] is True
    assert api["agents"] == {"amy": "Amy Chen"}

    # The report, from the same database, with the shipped config's SLA and expiry.
    config = client.app[CONTEXT].config
    out = tmp_path / "report"
    code = await asyncio.to_thread(
        main,
        [
            "report",
            "--config",
            str(REPO / "config.yml"),
            "--month",
            month,
            "--out",
            str(out),
            "--db",
            config.storage.url,
            "--no-model",
        ],
    )
    assert code == 0
    series = _read_csv(out / "series.csv")
    assert [r["key"] for r in series] == [r["key"] for r in api["series"]]
    for got, want in zip(series, api["series"], strict=True):
        assert got == {k: _as_csv(v) for k, v in want.items()}, want["key"]
    for name in ("channel", "skill_group", "agent", "language"):
        rows = _read_csv(out / f"{name}.csv")
        assert rows == [{k: _as_csv(v) for k, v in r.items()} for r in api["slices"][name]]
    report_breaches = _read_csv(out / "breaches.csv")
    assert [r["conversation_id"] for r in report_breaches] == [
        b["conversation_id"] for b in api["sla_breaches"]
    ]
    assert {r["agent_name"] for r in report_breaches} == {"Amy Chen", ""}
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Amy Chen (amy)" in page  # the agent slice by name
