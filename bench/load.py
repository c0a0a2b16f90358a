"""Load on 1 and 3 instances: simulated customers (widget sockets and the REST channel) and
agents (console logins) against real `relaydesk run` processes sharing one PostgreSQL database
and one Redis. Per instance count and concurrency: turns per second, bot-reply latency p50/p99,
and messages lost, duplicated or out of order, which must all be zero (else the exit status is 1).

    .venv/bin/python bench/load.py [--instances 1,3] [--levels 5,10,20,40] [--duration 25]
                                   [--messages 8] [--quick]

How it runs. For each instance count N a fresh database is created, N servers start on it with
`server.redis_url` set (also for N=1, so both sides pay the same coordination costs), and the
levels run one after the other on the same servers. At level C there are C customer slots, half
widget sockets and half REST; each slot runs customer sessions back to back until --duration has
passed, then finishes its session. A session is a new customer who sends --messages lines, each
after the answer to the previous one (a closed loop; --think-ms adds a pause): answerable
questions from bench/data/kb_questions.yml in one language. --handoff-share of the sessions ask
for a person ("转人工", "talk to a person") after one to three questions; an agent claims the
chat, greets, answers each further line, and resolves on the last; the customer rates. A bot
escalation the script did not plan (three failed turns, a complaint) is followed the same way.

There is no load balancer: the bench spreads the connections itself. Widget sockets go round-
robin over the instances, one per session, and every widget reconnects halfway through its
session to the next instance, resuming with `hello.after` (the last id it showed). A REST
customer sends each message to the next instance, so one conversation's turns are always
processed by different processes, one after the other, and its long polls go to yet another.
Agents hold their console socket on one instance and send their claims, replies and resolves
round-robin over all of them. With N=3, most agent replies reach a customer held by another
instance, through Redis.

What is checked, after each level, against the database and the clients' own logs:
- lost: a message the server accepted (HTTP 200, or the widget's echo of its client_id) and did
  not store; a stored bot, agent or system message the customer's client never received; a
  reply that did not come within --timeout (that session stops there).
- duplicated: a customer message stored twice, an agent's reply stored twice, any message a
  client or an agent's console received twice.
- out of order: a conversation whose stored customer messages are not in the order they were
  sent; a bot reply not stored between its own message and the next; a client that received a
  conversation's messages out of seq order.
Also counted, not failed on: "late queue reply", the bot's "you are number N in the queue"
stored after news of that same handoff (a queue update, the agent joining). A widget shows both,
in the wrong order; a REST client, polling `after` the reply's seq, never gets the news (which
then counts as lost).
Turns per second counts customer messages answered (by the bot or an agent) during the
--duration window; latency is from sending a line to the bot's first reply reaching the client
(the agents' answers, which the simulated agents send at once, are timed separately). Server
and client CPU are in % of one core over the level: the instances' threads, and this process.

Everything runs on this machine's cores: the servers, PostgreSQL, Redis and the simulated
clients, which share the CPU with the servers they measure. Ends with one JSON line of every
figure. Redis: RELAYDESK_BENCH_REDIS (default db 9 on 127.0.0.1, so the tests' db 0 keys are
not touched); pub/sub is not divided by db number, so instances elsewhere on the same Redis hear
these events (and ignore them: no conversation of theirs).

The servers, the database and the customer-message checks come from the kit the fault tests use
(tests/kit/); the simulated customers and agents are in bench/loadgen/.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from _common import REPO, emit_json, percentile, print_table, quiet_logging
from loadgen.agents import PASSWORD, Agent
from loadgen.checks import verify
from loadgen.customers import Log
from loadgen.sessions import run_level
from turns import PG_ADMIN, lines_pool

from bot.config import HandoffSection, load_config
from tests.kit.clients import WEBHOOK
from tests.kit.processes import create_database, drop_database
from tests.kit.servers import Instance, add_agents, close_all, instances, start_all

REDIS = os.environ.get("RELAYDESK_BENCH_REDIS", "redis://127.0.0.1:6379/9")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _cpu_s(cluster: list[Instance]) -> float:
    """CPU seconds the instances have used so far (all their threads)."""
    return sum(server.cpu_s() for server in cluster)


# -- the servers -------------------------------------------------------------------------------
def servers(tmp: Path, storage_url: str, n: int) -> list[Instance]:
    """N `relaydesk run` instances on one database and one Redis, each with a folder under
    `tmp` (its config, log and knowledge history); the repository's model and knowledge index."""
    return instances(
        load_config(REPO / "config.yml"),
        tmp,
        None,
        [f"instance{i}" for i in range(n)],
        storage_url=storage_url,
        redis_url=REDIS,
        kb_dir=REPO / "var",
        for_faults=False,
        folder_sections=lambda folder: {"knowledge": {"history_db": str(folder / "knowledge.db")}},
    )


# -- one instance count, all levels ------------------------------------------------------------
def summarise(out: dict[str, Any], checks: dict[str, int], duration_s: float) -> dict[str, Any]:
    logs: list[Log] = out["logs"]
    window_end = out["started"] + duration_s
    answered = [t for log in logs for t in log.answered_at]
    bot = [x for log in logs for x in log.bot_ms]
    agent = [x for log in logs for x in log.agent_ms]
    return {
        "turns_per_s": round(sum(t <= window_end for t in answered) / duration_s, 1),
        "bot_p50_ms": round(percentile(bot, 50), 1) if bot else None,
        "bot_p99_ms": round(percentile(bot, 99), 1) if bot else None,
        "agent_p50_ms": round(percentile(agent, 50), 1) if agent else None,
        "agent_p99_ms": round(percentile(agent, 99), 1) if agent else None,
        "turns": len(answered),
        "sessions": len(logs),
        "handoffs": sum(log.handoff for log in logs),
        "lost": checks["lost"],
        "duplicated": checks["duplicated"],
        "reordered": checks["reordered"],
        "late_queue_replies": checks["late_queue_reply"],
        "errors": sum(len(log.errors) for log in logs),
        "timed_out_sessions": sum(log.timed_out for log in logs),
        "wall_s": round(out["elapsed"], 1),
    }


async def bench_instances(
    n: int, args: argparse.Namespace, results: dict[tuple[int, int], Any]
) -> None:
    pool: dict[str, list[str]] = {"zh": [], "en": []}
    for line in lines_pool():
        pool["zh" if _CJK.search(line) else "en"].append(line)
    name = f"relaydesk_bench_{uuid.uuid4().hex[:8]}"
    cluster: list[Instance] = []
    agents: list[Agent] = []
    storage_url = await create_database(PG_ADMIN, name)
    try:
        with tempfile.TemporaryDirectory(prefix="relaydesk-load-") as t:
            # Migrated before the instances start (so they do not race to), with the agents,
            # online in every skill group, with console passwords.
            names = await add_agents(
                storage_url,
                [f"agent{i:02d}" for i in range(args.agents)],
                password=PASSWORD,
                skills=list(HandoffSection().skill_groups),
                status="online",
                max_concurrent=100,
            )
            cluster = servers(Path(t), storage_url, n)
            urls = [server.url for server in cluster]
            started = time.perf_counter()
            try:
                await start_all(cluster, timeout=240)
            except AssertionError:
                print("\n".join(server.log_tail(15) for server in cluster), file=sys.stderr)
                raise
            print(
                f"\n{n} instance(s) ready in {time.perf_counter() - started:.1f} s: "
                + ", ".join(urls)
            )
            async with aiohttp.ClientSession() as s:  # lazy imports and caches paid up front
                for url in urls:
                    for text in pool["zh"][:3] + pool["en"][:3]:
                        async with s.post(
                            f"{url}{WEBHOOK}", json={"sender": "warm-up", "message": text}
                        ) as r:
                            await r.read()
            agents = [Agent(i, a, urls, len(names)) for i, a in enumerate(names)]
            await asyncio.gather(*(a.start() for a in agents))
            for level in args.levels:
                cpu = _cpu_s(cluster), time.process_time()
                out = await run_level(urls, level, args, pool, f"n{n}")
                cpu = _cpu_s(cluster) - cpu[0], time.process_time() - cpu[1]
                await asyncio.sleep(0.5)  # an agent's last resolve may still be on its way
                checks = await verify(storage_url, out["logs"])
                row = summarise(out, checks, args.duration)
                # Of one core: how much the servers and this process (the clients) used.
                row["server_cpu_pct"] = round(100 * cpu[0] / out["elapsed"])
                row["client_cpu_pct"] = round(100 * cpu[1] / out["elapsed"])
                row["duplicated"] += sum(c - 1 for a in agents for c in a.seen.values())
                for a in agents:
                    a.seen.clear()
                row["errors"] += sum(len(a.problems) for a in agents)
                for a in agents:
                    for p in a.problems[:3]:
                        print(f"    {p}", file=sys.stderr)
                    a.problems.clear()
                results[(n, level)] = row
                print(
                    f"  N={n} C={level:>3}: {row['turns_per_s']:6.1f} turns/s, bot p50 "
                    f"{row['bot_p50_ms']} / p99 {row['bot_p99_ms']} ms, {row['sessions']} sessions "
                    f"({row['handoffs']} handoffs), lost {row['lost']}, duplicated "
                    f"{row['duplicated']}, reordered {row['reordered']}, errors {row['errors']}",
                    flush=True,
                )
                for log in out["logs"]:
                    for e in log.errors[:2]:
                        print(f"    {log.kind} {log.key}: {e}", file=sys.stderr)
            claims = sum(a.claims for a in agents)
            conflicts = sum(a.conflicts for a in agents)
            print(f"  agents: {claims} claims; {conflicts} times another agent was faster (409)")
    finally:
        for a in agents:
            await a.close()
        await close_all(cluster)
        await drop_database(PG_ADMIN, name)


# Figures that must be 0 in every level, else the exit status is 1.
FAILING = ("_lost", "_duplicated", "_reordered", "_errors")
# (table header, figure name): the per-level figures, in the table and in the JSON line.
COLUMNS = [
    ("turns/s", "turns_per_s"),
    ("bot p50 ms", "bot_p50_ms"),
    ("bot p99 ms", "bot_p99_ms"),
    ("agent p50 ms", "agent_p50_ms"),
    ("agent p99 ms", "agent_p99_ms"),
    ("sessions", "sessions"),
    ("handoffs", "handoffs"),
    ("lost", "lost"),
    ("dup", "duplicated"),
    ("reordered", "reordered"),
    ("late queue reply", "late_queue_replies"),
    ("errors", "errors"),
    ("server CPU %", "server_cpu_pct"),
    ("client CPU %", "client_cpu_pct"),
]


def report(
    args: argparse.Namespace, results: dict[tuple[int, int], Any], load_before: float
) -> dict[str, Any]:
    print(
        "\nN instances, C concurrent customers (half widget, half REST). bot: from sending a line "
        "to the bot's first reply at the client; agent: the same for a line to an agent, who "
        "answers at once"
    )
    ordered = sorted(results.items())
    print_table(
        ["", *(h for h, _ in COLUMNS)],
        [[f"N={n} C={c}", *(r[k] for _, k in COLUMNS)] for (n, c), r in ordered],
        digits=1,
    )
    figures: dict[str, Any] = {
        "cores": os.cpu_count(),
        "load_average_before": round(load_before, 1),
        "duration_per_level_s": args.duration,
        "messages_per_customer": args.messages,
        "think_ms": args.think_ms,
        "handoff_share": args.handoff_share,
        "agents": args.agents,
    }
    top, ns = max(args.levels), sorted({n for n, _ in results})
    if len(ns) > 1 and (ns[0], top) in results and (ns[-1], top) in results:
        low, high = results[(ns[0], top)]["turns_per_s"], results[(ns[-1], top)]["turns_per_s"]
        ratio = round(high / low, 2) if low else None
        figures[f"n{ns[-1]}_vs_n{ns[0]}_c{top}_throughput_ratio"] = ratio
        print(f"\nat C={top}: {high} turns/s on {ns[-1]} instances, {low} on {ns[0]}: x{ratio}")
    print(
        f"machine: {os.cpu_count()} cores, shared by the servers, PostgreSQL, Redis and the "
        f"simulated clients; load average {load_before:.1f} before the run (other work on the "
        f"machine shows there), {os.getloadavg()[0]:.1f} at the end. {args.duration:.0f} s per "
        f"level, {args.messages} lines per customer, think time {args.think_ms:.0f} ms, "
        f"{args.agents} agents."
    )
    for (n, c), r in ordered:
        figures.update({f"n{n}_c{c}_{k}": r[k] for _, k in COLUMNS})
        figures[f"n{n}_c{c}_turns"] = r["turns"]
    return figures


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    # SIGTERM as Ctrl-C: the main task is cancelled and every `finally` cleans up.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    results: dict[tuple[int, int], Any] = {}
    load_before = os.getloadavg()[0]
    for n in args.instances:
        await bench_instances(n, args, results)
    return report(args, results, load_before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", default="1,3", help="instance counts to compare")
    ap.add_argument("--levels", default="5,10,20,40", help="concurrent customers, in turn")
    ap.add_argument("--duration", type=float, default=25.0, help="seconds of load per level")
    ap.add_argument("--messages", type=int, default=8, help="lines per customer")
    ap.add_argument("--think-ms", type=float, default=0.0, help="mean pause between lines")
    ap.add_argument(
        "--handoff-share", type=float, default=0.25, help="customers asking for a person"
    )
    ap.add_argument("--agents", type=int, default=6)
    ap.add_argument("--timeout", type=float, default=60.0, help="longest wait for one answer (s)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 small levels, 6 s each")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.messages = 6.0, 5
        args.levels = "2,6" if args.levels == ap.get_default("levels") else args.levels
    args.instances = [int(x) for x in args.instances.split(",")]
    args.levels = [int(x) for x in args.levels.split(",")]
    quiet_logging()
    try:
        figures = asyncio.run(bench(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted: servers stopped, database dropped", file=sys.stderr)
        sys.exit(130)
    bad = [k for k, v in figures.items() if k.endswith(FAILING) and v]
    if bad:  # said before the JSON line, which stays the last line of the output
        print(f"\nFAILED: {', '.join(bad)}", file=sys.stderr, flush=True)
    print()
    emit_json(figures)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
