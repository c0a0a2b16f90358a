"""`relaydesk agents`: add, list, change, disable and enable the human agents, and set their
console passwords. The same rules and the same audit log as the console's administration
(handoff/console/administration.py): the CLI acts as an admin named `cli:<login>`, since whoever
runs it holds the database anyway."""

from __future__ import annotations

import argparse
import getpass
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
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise InputError("the passwords differ")
    return first


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


def cmd_agents(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from bot.store.admin_settings import SqlAdminSettings
    from bot.store.live_settings import LiveSettings
    from bot.store.sql_store import SqlStore
    from handoff.console.accounts import Accounts
    from handoff.console.administration import Actor, Administration
    from handoff.console.canned import load_canned

    config = read_config(args)

    async def run() -> int:
        store = await SqlStore.open(config.storage.url, base_dir=config.base_dir)
        try:
            canned = load_canned(Path(config.path(config.console.canned_responses)))
            live = await LiveSettings.open(
                SqlAdminSettings(store.db), config.handoff.skill_groups, canned
            )
            admin = Administration(store, Accounts(store), live, config.handoff)
            me = Actor(_who(), "admin")
            skills = _csv(args.skills) if getattr(args, "skills", None) else None
            languages = _csv(args.languages) if getattr(args, "languages", None) else None
            if args.action == "passwd":
                await admin.reset_password(me, args.username, _read_password(args))
                print(f"password set for {args.username}; their other sessions are logged out")
                return 0
            if args.action in ("disable", "enable"):
                a = await admin.set_disabled(me, args.username, args.action == "disable")
                print(f"{a.username} is {'disabled' if a.disabled else 'enabled'}")
                return 0
            if args.action == "add":
                password = _read_password(args) if args.password_stdin else None
                a = await admin.add_agent(
                    me,
                    args.username,
                    display_name=args.name or args.username,
                    role=args.role,
                    skills=skills or [],
                    languages=languages or ["zh", "en"],
                    max_concurrent=args.max,
                    password=password,
                )
                print(
                    f"added {a.username} ({a.role}; skills {', '.join(a.skills) or '-'}; "
                    f"languages {', '.join(a.languages)}; up to {a.max_concurrent} chats)"
                )
                if password is not None:
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
                a = await admin.update_agent(me, args.username, **fields)
                print(
                    f"updated {a.username}: {a.status}, skills {', '.join(a.skills) or '-'}, "
                    f"up to {a.max_concurrent} chats"
                )
            else:
                agents = await store.agents.all()
                if not agents:
                    print("no agents yet; add one with `relaydesk agents add NAME --skills ...`")
                for a in agents:
                    state = "disabled" if a.disabled else a.status
                    print(
                        f"{a.username:<16} {a.role:<10} {state:<8} "
                        f"{','.join(a.skills) or '-':<30} {','.join(a.languages):<6} "
                        f"max {a.max_concurrent}"
                    )
            return 0
        finally:
            await store.close()

    return asyncio.run(run())
