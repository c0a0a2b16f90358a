"""`relaydesk report`: the HTML page, its charts and its tables, from a stored month."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.analytics.summary import Period
from bot.cli import main
from bot.errors import InputError
from bot.store.sql_store import SqlStore

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
    assert rows[0]["containment_rate"] == "1.0"


def test_a_month_runs_from_its_first_day_to_the_next_months() -> None:
    nov = Period.month("2026-11")
    assert (nov.start.day, nov.end.month, nov.end.day) == (1, 12, 1)
    dec = Period.month("2026-12")
    assert (dec.end.year, dec.end.month) == (2027, 1)


def test_a_bad_month_is_a_clear_error() -> None:
    for bad in ("2026-13", "11/2026", ""):
        with pytest.raises(InputError, match="month"):
            Period.month(bad)
