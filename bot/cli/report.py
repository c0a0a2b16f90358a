"""`relaydesk report`: the monthly service report (HTML, charts, CSVs) from the database."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bot.cli.common import read_config


def cmd_report(args: argparse.Namespace) -> int:
    import asyncio

    from bot.analytics.proactive import proactive_figures
    from bot.analytics.report import write_report
    from bot.analytics.summary import Period, summary_for
    from bot.store.sql_store import SqlStore

    started = time.perf_counter()
    config = read_config(args)
    period = Period.month(args.month)
    nlu = None
    if not args.no_model:
        from bot.nlu.pipeline import load_for_config

        nlu = load_for_config(config, None)

    async def run() -> dict[str, object]:
        store = await SqlStore.open(args.db or config.storage.url, base_dir=config.base_dir)
        try:
            # The dashboard's own computations (handoff/console/dashboard.py), so they agree.
            summary = await summary_for(config, store.db, period, nlu=nlu)
            summary["proactive"] = await proactive_figures(
                store.proactive, period.start, period.end
            )
            return summary
        finally:
            await store.close()

    summary = asyncio.run(run())
    out = Path(args.out)
    written = write_report(summary, out, f"relaydesk service report {args.month}")
    totals, proactive = summary["totals"], summary["proactive"]
    assert isinstance(totals, dict) and isinstance(proactive, dict)
    print(
        f"{args.month}: {totals['conversations']} conversations ({totals['open']} still open), "
        f"containment {totals['containment_rate']}, CSAT {totals['csat_rate']}; "
        f"proactive: {proactive['sent']} sent, {proactive['suppressed']} held back, "
        f"participation {proactive['participation_rate']}; "
        f"wrote {len(written)} files "
        f"to {out} in {time.perf_counter() - started:.1f} s"
    )
    return 0
