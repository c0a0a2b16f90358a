"""The proactive-contact figures (bot/analytics/proactive.py) over a ledger filled through the
store's own API (store.customer_events, store.proactive), on SQLite and PostgreSQL: each figure,
each reason a message was held back, the period's edges and the participation rate."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import clock
from bot.analytics.proactive import REASONS, proactive_figures, shape
from bot.analytics.summary import Period
from bot.cli import main
from bot.store.sql_store import SqlStore

REPO = Path(__file__).resolve().parents[3]

NOV = Period.month("2026-11")
T0 = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


class Ledger:
    """Rows of the proactive ledger, each on its own customer and trigger event, written at the
    simulated time they happen."""

    def __init__(self, store: SqlStore, sim: clock.SimulatedClock) -> None:
        self.store = store
        self.sim = sim
        self.n = 0

    async def row(self, at: datetime, rule: str = "cart_reminder") -> int:
        self.sim.set(at)
        self.n += 1
        customer = await self.store.customers.for_identity("telegram", f"tg-{self.n}")
        event, new = await self.store.customer_events.record(
            "shop", f"evt-{self.n}", "cart_abandoned", customer.id, {"product": "伞"}, at
        )
        assert new
        record, created = await self.store.proactive.schedule(rule, customer.id, event.id, at)
        assert created
        assert await self.store.proactive.due(at)  # claimed, as the scheduler does
        return record.id

    async def sent(
        self,
        at: datetime,
        *,
        delivered: bool = False,
        replied: datetime | None = None,
        converted: datetime | None = None,
        rule: str = "cart_reminder",
    ) -> int:
        ledger, outcomes = self.store.proactive, self.store.proactive_outcomes
        lid = await self.row(at, rule)
        assert await ledger.mark_sent(
            lid, message_id=None, conversation_id=None, channel="telegram"
        )
        if delivered:
            assert await outcomes.mark_delivered(lid, at + timedelta(seconds=5))
        if replied is not None:
            assert await outcomes.mark_replied(lid, replied)
        if converted is not None:
            assert await outcomes.mark_converted(lid, converted)
        return lid


async def test_each_figure_and_each_reason_is_counted(store: SqlStore) -> None:
    with clock.use_clock(clock.SimulatedClock(T0)) as sim:
        rows = Ledger(store, sim)
        ledger = store.proactive
        # Sent in November: one delivered, replied and converted; one delivered and replied;
        # one only delivered; one never confirmed delivered; one sent on the period's last
        # evening and replied to the next morning (December: still this cohort's reply).
        await rows.sent(
            T0, delivered=True, replied=T0 + timedelta(minutes=3), converted=T0 + timedelta(hours=5)
        )
        await rows.sent(T0, delivered=True, replied=T0 + timedelta(hours=1), rule="survey")
        await rows.sent(T0 + timedelta(days=1), delivered=True)
        await rows.sent(T0 + timedelta(days=2))
        late = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
        await rows.sent(late, delivered=True, replied=late + timedelta(hours=10))
        # Outside the period: sent on 31 October, and on 1 December.
        await rows.sent(NOV.start - timedelta(hours=1), delivered=True, replied=NOV.start)
        await rows.sent(NOV.end, delivered=True, replied=NOV.end + timedelta(minutes=1))

        # Held back in November: one of each final reason, `expired` both ways (a row too old
        # to send is suppressed; one whose cart was bought first is cancelled).
        for reason in ("cap", "opt_out", "cooldown", "duplicate", "conditions", "unreachable"):
            assert await ledger.suppress(await rows.row(T0), reason)
        assert await ledger.suppress(await rows.row(T0), "expired")
        assert await ledger.cancel(await rows.row(T0), "expired")
        # A decision made in December is December's.
        assert await ledger.suppress(await rows.row(NOV.end + timedelta(hours=2)), "cap")
        # Quiet hours postpone a row twice (not final, not held back), then it goes out.
        waiting = await rows.row(T0 + timedelta(days=3))
        assert await ledger.reschedule(waiting, T0 + timedelta(days=3, hours=11))
        assert await ledger.reschedule(waiting, T0 + timedelta(days=4, hours=11))
        sim.set(T0 + timedelta(days=4, hours=11))
        assert await ledger.due()
        assert await ledger.mark_sent(
            waiting, message_id=None, conversation_id=None, channel="telegram"
        )

    figures = await proactive_figures(ledger, NOV.start, NOV.end)
    assert figures["period"] == {"from": NOV.start, "to": NOV.end}
    assert (figures["sent"], figures["delivered"], figures["replied"], figures["converted"]) == (
        6,
        4,
        3,
        1,
    )
    # Participation: of the 4 delivered, 3 were answered (replied ÷ delivered, not ÷ sent).
    assert figures["participation_rate"] == 0.75
    assert figures["conversion_rate"] == round(1 / 6, 4)
    assert figures["delivery_rate"] == round(4 / 6, 4)
    by_reason = {r["reason"]: r["count"] for r in figures["suppressed_by_reason"]}
    assert list(by_reason) == list(REASONS)  # every reason, in the decision's order
    assert by_reason == {
        "opt_out": 1,
        "expired": 2,
        "conditions": 1,
        "cooldown": 1,
        "cap": 1,
        "quiet_hours": 2,
        "duplicate": 1,
        "unreachable": 1,
    }
    assert figures["suppressed"] == 8  # quiet hours postpone: not in the total
    assert figures["postponed"] == 2
    assert figures["sent_by_rule"] == [
        {"rule": "cart_reminder", "sent": 5},
        {"rule": "survey", "sent": 1},
    ]

    december = await proactive_figures(ledger, NOV.end, NOV.end + timedelta(days=31))
    assert (december["sent"], december["replied"], december["suppressed"]) == (1, 1, 1)
    assert december["participation_rate"] == 1.0


async def test_a_quiet_period_has_no_rate_rather_than_zero(store: SqlStore) -> None:
    figures = await proactive_figures(store.proactive, NOV.start, NOV.end)
    assert figures["sent"] == figures["delivered"] == figures["suppressed"] == 0
    assert figures["participation_rate"] is None and figures["conversion_rate"] is None
    assert [r["count"] for r in figures["suppressed_by_reason"]] == [0] * len(REASONS)


def test_an_unknown_reason_is_shown_after_the_known_ones() -> None:
    raw = {"sent": 2, "delivered": 0, "suppressed": {"cap": 1, "legal_hold": 2}}
    figures = shape(raw, NOV.start, NOV.end)
    assert figures["suppressed_by_reason"][-1] == {"reason": "legal_hold", "count": 2}
    assert figures["suppressed"] == 3
    assert figures["participation_rate"] is None  # nothing delivered: no rate


def test_the_report_shows_the_dashboards_figures(tmp_path: Path) -> None:
    """`relaydesk report` for November: a "Proactive contact / 主动触达" section and
    proactive.csv with the figures the dashboard's API reads (one function computes both)."""
    url = f"sqlite:///{tmp_path / 'r.db'}"

    async def fill() -> dict[str, object]:
        store = await SqlStore.open(url)
        try:
            with clock.use_clock(clock.SimulatedClock(T0)) as sim:
                rows = Ledger(store, sim)
                await rows.sent(T0, delivered=True, replied=T0 + timedelta(minutes=2))
                await rows.sent(T0, delivered=True)
                await rows.sent(T0)
                assert await store.proactive.suppress(await rows.row(T0), "cap")
                assert await store.proactive.suppress(await rows.row(T0), "unreachable")
                customer = await store.customers.for_identity("telegram", "tg-opted-out")
                assert await store.opt_outs.opt_out(customer.id, "telegram", "keyword")
            return await proactive_figures(store.proactive, NOV.start, NOV.end)
        finally:
            await store.close()

    expected = asyncio.run(fill())
    out = tmp_path / "report"
    args = ["report", "--config", str(REPO / "config.yml"), "--month", "2026-11"]
    assert main([*args, "--out", str(out), "--db", url, "--no-model"]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Proactive contact / 主动触达" in page
    assert "Weekly cap reached / 已达每周上限" in page
    with (out / "proactive.csv").open(encoding="utf-8-sig") as f:
        figures = {r["figure"]: r["value"] for r in csv.DictReader(f)}
    assert (figures["sent"], figures["delivered"], figures["replied"]) == ("3", "2", "1")
    assert figures["participation_rate"] == "0.5" == str(expected["participation_rate"])
    assert figures["suppressed"] == "2" == str(expected["suppressed"])
    assert figures["suppressed:cap"] == figures["suppressed:unreachable"] == "1"
    assert figures["suppressed:opt_out"] == "0"
    assert figures["opt_outs"] == "1" == str(expected["opt_outs"])
    assert "Customers who opted out / 退订的客户" in page
