"""`relaydesk agents`: add, list and change the human agents, and set their console passwords."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import read_config
from bot.errors import InputError

AGENT_ROLES = ("agent", "supervisor", "admin")
AGENT_STATUSES = ("online", "away", "offline")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _read_password(args: argparse.Namespace) -> str:
    """From stdin with --password-stdin (scripts), else asked twice at the terminal."""
    if getattr(args, "password_stdin", False) or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise InputError("the passwords differ")
    return first


def cmd_agents(args: argparse.Namespace) -> int:
    import asyncio

    from bot.store.sql_store import SqlStore

    config = read_config(args)

    async def run() -> int:
        store = await SqlStore.open(config.storage.url, base_dir=config.base_dir)
        try:
            groups = set(config.handoff.skill_groups)
            skills = _csv(args.skills) if getattr(args, "skills", None) else None
            if skills and set(skills) - groups:
                raise InputError(
                    f"unknown skill group(s) {', '.join(sorted(set(skills) - groups))}"
                    f"; configured: {', '.join(sorted(groups))}"
                )
            languages = _csv(args.languages) if getattr(args, "languages", None) else None
            if languages and set(languages) - {"zh", "en"}:
                raise InputError("languages: zh and/or en")
            if args.action == "passwd":
                from handoff.console.accounts import Accounts

                await Accounts(store).set_password(args.username, _read_password(args))
                print(f"password set for {args.username}; their other sessions are logged out")
                return 0
            if args.action == "add":
                a = await store.agents.add(
                    args.username,
                    args.name or args.username,
                    role=args.role,
                    skills=skills or [],
                    languages=languages or ["zh", "en"],
                    max_concurrent=args.max,
                )
                print(
                    f"added {a.username} ({a.role}; skills {', '.join(a.skills) or '-'}; "
                    f"languages {', '.join(a.languages)}; up to {a.max_concurrent} chats)"
                )
                if args.password_stdin:
                    from handoff.console.accounts import Accounts

                    await Accounts(store).set_password(a.username, _read_password(args))
                    print("password set; they can log in at /console")
            elif args.action == "set":
                fields: dict[str, object] = {}
                if args.status:
                    fields["status"] = args.status
                if skills is not None:
                    fields["skills"] = skills
                if languages is not None:
                    fields["languages"] = languages
                if args.max is not None:
                    fields["max_concurrent"] = args.max
                if args.role:
                    fields["role"] = args.role
                if not fields:
                    raise InputError(
                        "nothing to set: give --status, --skills, --languages, --max or --role"
                    )
                a = await store.agents.update(args.username, **fields)
                print(
                    f"updated {a.username}: {a.status}, skills {', '.join(a.skills) or '-'}, "
                    f"up to {a.max_concurrent} chats"
                )
            else:
                agents = await store.agents.all()
                if not agents:
                    print("no agents yet; add one with `relaydesk agents add NAME --skills ...`")
                for a in agents:
                    print(
                        f"{a.username:<16} {a.role:<10} {a.status:<8} "
                        f"{','.join(a.skills) or '-':<30} {','.join(a.languages):<6} "
                        f"max {a.max_concurrent}"
                    )
            return 0
        finally:
            await store.close()

    return asyncio.run(run())
