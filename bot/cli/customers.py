"""`relaydesk customers` and `relaydesk orders`: load a shop's customers and orders from CSV,
compute the segments, look at one customer.

An import checks every line first and stores nothing when any line is wrong (each problem is
printed with its line and column), unless `--skip-invalid` stores the good lines; `--dry-run`
only checks. After an import the segments are recomputed, so the console shows them at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.cli.common import read_config
from bot.config import Config
from bot.errors import InputError

Adder = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def add_commands(sub: Any, with_config: Adder) -> None:
    """The `customers` and `orders` commands, on the parser's subcommands."""
    customers = sub.add_parser(
        "customers", help="customer profiles: import from CSV, segments, show"
    )
    c_sub = customers.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = with_config(c_sub.add_parser("import", help="create or update customers from CSV"))
    _import_args(p, "customer_id (the shop's number), name, email, phone, region, ...")
    p.set_defaults(func=cmd_customers)
    p = with_config(c_sub.add_parser("segments", help="compute every customer's segments"))
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_customers)
    p = with_config(c_sub.add_parser("show", help="one customer's profile and segments"))
    p.add_argument("ref", help="the shop's customer number (or the internal id)")
    p.set_defaults(func=cmd_customers)

    orders = sub.add_parser("orders", help="the shop's orders: import from CSV")
    o_sub = orders.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = with_config(o_sub.add_parser("import", help="create or replace orders from CSV"))
    _import_args(p, "order_id, customer_id, ordered_at, amount, status, ...")
    p.set_defaults(func=cmd_orders)


def _import_args(p: argparse.ArgumentParser, columns: str) -> None:
    p.add_argument("file", help=f"CSV with a header line: {columns} (docs/customers.md)")
    p.add_argument("--dry-run", action="store_true", help="check every line, store nothing")
    p.add_argument(
        "--skip-invalid", action="store_true", help="store the good lines, report the others"
    )


def _read(path: str, config: Config) -> str:
    from bot.store.customer_import import decode

    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: no such file")
    size = file.stat().st_size
    limit = config.customers.import_max_bytes
    if size > limit:  # before reading it all into memory
        raise InputError(
            f"{path}: {size:,} bytes; the limit is {limit:,} (customers.import_max_bytes)"
        )
    return decode(file.read_bytes(), limit)


def _report(path: str, parsed: Any, args: argparse.Namespace) -> bool:
    """Print the problems; whether to go on storing."""
    from bot.store.customer_import import MAX_ERRORS_SHOWN

    for e in parsed.errors[:MAX_ERRORS_SHOWN]:
        print(f"{path}: {e}", file=sys.stderr)
    more = len(parsed.errors) - MAX_ERRORS_SHOWN
    if more > 0:
        print(f"{path}: ... and {more} more", file=sys.stderr)
    good = len(parsed.rows)
    print(f"{path}: {parsed.lines} lines, {good} valid, {len(parsed.errors)} with errors")
    if parsed.errors and not args.skip_invalid:
        print("nothing stored: fix the lines above, or store the valid ones with --skip-invalid")
        return False
    return not args.dry_run


def _print_summary(summary: Any) -> None:
    print(f"segments of {summary.customers} customers, {summary.at:%Y-%m-%d %H:%M} UTC:")
    for key, n in summary.counts.items():
        print(f"  {key:<32} {n}")
    if summary.high_min_cents is not None:
        print(
            f"  value bands: high from {summary.high_min_cents / 100:,.2f}, "
            f"mid from {summary.mid_min_cents / 100:,.2f} (the year's spend)"
        )


def cmd_customers(args: argparse.Namespace) -> int:
    from bot.store.customer_import import parse_customers
    from bot.store.segments import rules_from
    from bot.store.sql_store import SqlStore

    config = read_config(args)

    async def run() -> int:
        store = await SqlStore.open(config.storage.url, base_dir=config.base_dir)
        store.profiles.rules = rules_from(config.customers)
        try:
            if args.action == "import":
                parsed = parse_customers(_read(args.file, config), config.customers.import_max_rows)
                if not _report(args.file, parsed, args):
                    return 1 if parsed.errors and not args.skip_invalid else 0
                created, updated = await store.profiles.import_customers(parsed.rows)
                print(f"{created} customers created, {updated} updated")
                _print_summary(await store.profiles.recompute())
                return 0
            if args.action == "segments":
                summary = await store.profiles.recompute()
                if args.json:
                    print(json.dumps(asdict(summary), default=str, ensure_ascii=False))
                else:
                    _print_summary(summary)
                return 0
            return await _show(store, args.ref)
        finally:
            await store.close()

    return asyncio.run(run())


async def _show(store: Any, ref: str) -> int:
    from bot.store.errors import NotFoundError

    try:
        customer = await store.profiles.by_ref(ref)
    except NotFoundError:
        customer = await store.customers.get(ref)  # NotFoundError: the CLI's one-line error
    customer = await store.profiles.refresh(customer.id)
    out = {
        **asdict(customer),
        "identities": [f"{c}:{e}" for c, e in await store.profiles.identities(customer.id)],
        "orders": [asdict(o) for o in await store.shop_orders.of_customer(customer.id)],
    }
    print(json.dumps(out, default=str, ensure_ascii=False, indent=2))
    return 0


def cmd_orders(args: argparse.Namespace) -> int:
    from bot.store.customer_import import parse_orders
    from bot.store.segments import rules_from
    from bot.store.sql_store import SqlStore

    config = read_config(args)

    async def run() -> int:
        store = await SqlStore.open(config.storage.url, base_dir=config.base_dir)
        store.profiles.rules = rules_from(config.customers)
        try:
            parsed = parse_orders(_read(args.file, config), config.customers.import_max_rows)
            # An order for a customer nobody imported is an error of its line, like any other.
            refs = [o.customer_ref for o in parsed.rows]
            unknown = await store.shop_orders.unknown_customers(refs)
            parsed.reject(
                lambda o: (
                    f"no customer {o.customer_ref!r}; import customers first"
                    if o.customer_ref in unknown
                    else None
                ),
                "customer_id",
            )
            if not _report(args.file, parsed, args):
                return 1 if parsed.errors and not args.skip_invalid else 0
            stored = await store.shop_orders.put_many(parsed.rows)
            print(f"{stored} orders stored")
            _print_summary(await store.profiles.recompute())
            return 0
        finally:
            await store.close()

    return asyncio.run(run())
