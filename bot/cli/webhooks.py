"""`relaydesk webhooks`: how the outgoing webhooks' deliveries stand, and sending the failed
ones again once a receiver is back (docs/integrations.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from bot.cli.common import read_config

Adder = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def add_commands(sub: Any, with_config: Adder) -> None:
    """The `webhooks` command, on the parser's subcommands."""
    hooks = sub.add_parser("webhooks", help="outgoing webhooks: status, retry failed")
    h_sub = hooks.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = with_config(h_sub.add_parser("status", help="the newest deliveries and how they stand"))
    p.add_argument("--limit", type=int, default=20, help="how many (default 20, at most 1000)")
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.set_defaults(func=cmd_webhooks)
    p = with_config(h_sub.add_parser("retry", help="send the failed deliveries again"))
    p.add_argument("--endpoint", help="only to this endpoint (its name in config.yml)")
    p.set_defaults(func=cmd_webhooks)


def cmd_webhooks(args: argparse.Namespace) -> int:
    config = read_config(args)
    return asyncio.run(_run(args, config))


async def _run(args: argparse.Namespace, config: Any) -> int:
    from bot.store.sql_store import SqlStore
    from connectors.webhooks.ledger import WebhookLedger, redeliver

    names = [e.name for e in config.integrations.webhooks.endpoints]
    if getattr(args, "endpoint", None) and args.endpoint not in names:
        known = ", ".join(names) or "none configured"
        print(f"relaydesk: error: no webhook endpoint {args.endpoint!r} (known: {known})")
        return 1
    store = await SqlStore.open(config.storage.url, base_dir=config.base_dir)
    try:
        ledger = WebhookLedger(store.db)
        if args.action == "retry":
            n = await redeliver(ledger, endpoint=args.endpoint)
            print(f"{n} failed deliveries pending again; the running server sends them")
            return 0
        states = await ledger.states(limit=max(1, min(args.limit, 1000)))
        for s in states:
            if args.json:
                print(json.dumps(asdict(s), ensure_ascii=False))
            else:
                last = f"HTTP {s.last_status}" if s.last_status else (s.error or "")
                print(
                    f"evt_{s.event_id:<6} {s.type:<22} {s.endpoint:<12} {s.status:<8} "
                    f"tries {s.attempts:<3} {last}"
                )
        if not states and not args.json:
            print("no webhook deliveries yet")
        return 0
    finally:
        await store.close()
