"""A simulated month of customer service, written into a new database for demos and analytics.

    .venv/bin/python bench/simulate.py --month 2026-11 [--db URL] [--conversations 3000]
                                       [--seed 1] [--days N] [--append] [--config config.yml]

Fills a new SQLite database (default var/simulated-MONTH.db) through the real engine and handoff
service (bench/simulation/); `relaydesk report --db ...` and the dashboard then read it. Prints the
summary for people and, as its last line, one JSON object of the same figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from pathlib import Path

from _common import REPO, emit_json, quiet_logging
from simulation import SimulationSettings, SimulationSummary, default_database, simulate

from bot.errors import RelaydeskError


def figures(summary: SimulationSummary) -> dict[str, object]:
    """The summary's counts, for the JSON line."""
    return {
        "month": summary.month,
        "database": summary.database,
        "conversations": len(summary.conversations),
        "visits": summary.visits,
        "returns": summary.returns,
        "customer_turns": summary.customer_turns,
        "bot_replies": summary.bot_replies,
        "agent_messages": summary.agent_messages,
        "handoffs": summary.handoffs,
        "claimed": summary.claimed,
        "resolved": summary.resolved,
        "transferred": summary.transferred,
        "back_to_bot": summary.back_to_bot,
        "tickets": summary.tickets,
        "ratings": summary.ratings,
        "shop_events": sum(n for k, n in summary.shop_events.items() if k != "replayed"),
        "proactive_sent": summary.proactive["sent"],
        "proactive_suppressed": sum(
            n for k, n in summary.proactive.items() if k.startswith(("suppressed:", "cancelled:"))
        ),
        "proactive_delivered": summary.proactive["delivered"],
        "proactive_replied": summary.proactive["replied"],
        "proactive_converted": summary.proactive["converted"],
        "elapsed_s": round(summary.elapsed_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(REPO / "config.yml"), help="config file")
    ap.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-11")
    ap.add_argument("--db", help="database URL (default: sqlite:///var/simulated-MONTH.db)")
    ap.add_argument("--conversations", type=int, default=3000, help="about how many (3000)")
    ap.add_argument("--seed", type=int, default=1, help="the same seed gives the same month")
    ap.add_argument("--days", type=int, help="only the month's first N days")
    ap.add_argument("--append", action="store_true", help="add to a database with conversations")
    ap.add_argument("--model", help="model folder (default: from config)")
    args = ap.parse_args(argv)
    quiet_logging()

    from threadpoolctl import threadpool_limits

    from bot.config import load_config
    from bot.nlu.pipeline import load_for_config

    try:
        config = load_config(args.config)
        threadpool_limits(config.server.blas_threads, user_api="blas")
        nlu = load_for_config(config, Path(args.model) if args.model else None)
        settings = SimulationSettings(
            args.month,
            conversations=args.conversations,
            seed=args.seed,
            days=args.days,
            append=args.append,
        )
        database = args.db or default_database(args.month.strip())
        gc.collect()
        gc.freeze()  # the model is loaded for good, as in `relaydesk run`
        summary = asyncio.run(simulate(config, nlu, settings, database=database))
    except RelaydeskError as exc:
        print(f"simulate: error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary.lines()))
    emit_json(figures(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
