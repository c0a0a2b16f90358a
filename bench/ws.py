"""The widget and console sockets under load, against a real `relaydesk run` (SQLite):

1. Idle widget sockets: the server's resident memory (RSS) with no sockets, then with
   --idle (default 1,000) widget sockets open at once, each past its hello.
2. Delivery: --active (default 100) customers, each in a conversation held by an agent, chat
   over the widget socket (a pause of --think-ms between messages); agents have the console
   open (logged in, on /ws/console). Measured: from the moment the customer's frame is sent to
   the moment the holding agent's console socket shows it, p50/p99; and every message is
   checked to arrive exactly once.

    .venv/bin/python bench/ws.py [--idle 1000] [--active 100] [--messages 10] [--think-ms 2000]

The simulated browsers run in this process on the same two cores as the server, so their own
work is inside the figures. Ends with one JSON line of every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import (
    emit_json,
    percentile,
    quiet_logging,
    start_server,
    wait_healthy,
    write_server_config,
)

AGENTS = 10
PASSWORD = "bench-password-1"


async def add_agents(config_path: Path) -> list[str]:
    from bot.config import load_config
    from bot.store.sql_store import SqlStore
    from handoff.console.accounts import Accounts

    config = load_config(config_path)
    store = await SqlStore.open(config.storage.url, base_dir=config.base_dir)
    names = [f"agent{i:02d}" for i in range(AGENTS)]
    try:
        for name in names:
            await store.agents.add(
                name,
                name.title(),
                skills=list(config.handoff.skill_groups),
                status="online",
                max_concurrent=50,
            )
            await Accounts(store).set_password(name, PASSWORD)
    finally:
        await store.close()
    return names


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def ws_url(url: str, path: str) -> str:
    return url.replace("http://", "ws://", 1) + path


async def hello(session: Any, url: str, token: str | None = None) -> tuple[Any, str]:
    """Open a widget socket and read up to its first `state` frame."""
    ws = await session.ws_connect(ws_url(url, "/ws/widget"), heartbeat=None)
    await ws.send_str(json.dumps({"type": "hello", "token": token, "after": 0, "language": "zh"}))
    got = None
    while True:
        frame = json.loads((await ws.receive(timeout=60)).data)
        if frame["type"] == "welcome":
            got = frame["token"]
        if frame["type"] == "state":
            assert got is not None
            return ws, got


async def idle_sockets(url: str, pid: int, count: int, figures: dict[str, Any]) -> None:
    import aiohttp

    await asyncio.sleep(1.0)
    before = rss_mb(pid)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets: list[Any] = []
        started = time.perf_counter()
        for start in range(0, count, 100):  # opened in waves of 100, as page views arrive
            opened = await asyncio.gather(
                *(hello(session, url) for _ in range(start, min(count, start + 100)))
            )
            sockets.extend(ws for ws, _ in opened)
        open_s = time.perf_counter() - started
        await asyncio.sleep(2.0)
        after = rss_mb(pid)
        alive = sum(not ws.closed for ws in sockets)
        for ws in sockets:
            await ws.close()
    per_kb = (after - before) * 1024 / count
    figures.update(
        idle_sockets=count,
        idle_sockets_open=alive,
        idle_open_s=round(open_s, 2),
        server_rss_no_sockets_mb=round(before, 1),
        server_rss_with_idle_sockets_mb=round(after, 1),
        idle_sockets_rss_increase_mb=round(after - before, 1),
        idle_socket_rss_kb_each=round(per_kb, 1),
    )
    print(
        f"idle: {alive}/{count} widget sockets open (opened in {open_s:.1f} s); server RSS "
        f"{before:.0f} MB before, {after:.0f} MB with them: +{after - before:.1f} MB, "
        f"{per_kb:.1f} KB per socket"
    )


async def delivery(
    url: str, agents: list[str], active: int, messages: int, think_ms: float
) -> dict[str, Any]:
    import aiohttp

    rng = random.Random(active)
    sent_at: dict[str, float] = {}
    seen: dict[str, list[float]] = {}
    owner_of: dict[str, str] = {}  # conversation id -> agent
    got_by: dict[str, str] = {}  # marker -> agent whose console showed it

    # -- agents: log in, go online, open the console feed ------------------------------------
    consoles: list[tuple[str, aiohttp.ClientSession, str, Any]] = []
    for name in agents:
        # unsafe: the jar would otherwise ignore cookies from a bare IP address (127.0.0.1).
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.post(
            f"{url}/api/console/login", json={"username": name, "password": PASSWORD}
        ) as r:
            assert r.status == 200, await r.text()
            csrf = (await r.json())["csrf"]
        feed = await session.ws_connect(ws_url(url, "/ws/console"), origin=url, heartbeat=None)
        consoles.append((name, session, csrf, feed))

    async def watch(name: str, feed: Any) -> None:
        async for msg in feed:
            frame = json.loads(msg.data)
            if frame["type"] != "message" or frame["message"]["sender"] != "customer":
                continue
            text = frame["message"]["text"]
            marker = text.rsplit("#", 1)[-1]
            if marker in sent_at:
                seen.setdefault(marker, []).append(time.perf_counter())
                got_by[marker] = name

    watchers = [asyncio.create_task(watch(name, feed)) for name, _, _, feed in consoles]

    # -- customers: open the widget, ask for a person ----------------------------------------
    customers = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    sockets = [
        ws for ws, _ in await asyncio.gather(*(hello(customers, url) for _ in range(active)))
    ]
    conversation_of: list[str] = []

    async def ask_for_person(ws: Any) -> str:
        await ws.send_str(json.dumps({"type": "message", "text": "转人工", "client_id": "h"}))
        while True:
            frame = json.loads((await ws.receive(timeout=60)).data)
            if frame["type"] == "state" and frame["status"] == "queued":
                return str(last_conversation[id(ws)])
            if frame["type"] == "message":
                last_conversation[id(ws)] = frame["conversation_id"]

    last_conversation: dict[int, str] = {}
    for ws in sockets:  # one by one: the queue order is then the customer order
        conversation_of.append(await ask_for_person(ws))

    # -- agents claim them, round robin ------------------------------------------------------
    for i, cid in enumerate(conversation_of):
        name, session, csrf, _ = consoles[i % len(consoles)]
        async with session.post(
            f"{url}/api/agent/conversations/{cid}/claim", headers={"X-CSRF-Token": csrf}
        ) as r:
            assert r.status == 200, await r.text()
        owner_of[cid] = name
    await asyncio.sleep(1.0)  # the consoles pick up their chats

    # Drain whatever the widgets got while queueing and being claimed.
    async def drain(ws: Any) -> None:
        async for _ in ws:
            pass

    drains = [asyncio.create_task(drain(ws)) for ws in sockets]

    # -- the chat ---------------------------------------------------------------------------
    lines = ["我的订单什么时候到", "好的", "can you check it please", "退款多久到账", "谢谢"]

    async def customer(i: int, ws: Any) -> None:
        await asyncio.sleep(rng.uniform(0, think_ms / 1000))
        for k in range(messages):
            if k:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think_ms / 1000)
            marker = f"c{i}m{k}"
            sent_at[marker] = time.perf_counter()
            await ws.send_str(
                json.dumps(
                    {
                        "type": "message",
                        "text": f"{rng.choice(lines)} #{marker}",
                        "client_id": uuid.uuid4().hex,
                    }
                )
            )

    started = time.perf_counter()
    await asyncio.gather(*(customer(i, ws) for i, ws in enumerate(sockets)))
    deadline = time.perf_counter() + 10
    while len(seen) < len(sent_at) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started

    latencies = [(times[0] - sent_at[m]) * 1000 for m, times in seen.items()]
    wrong_agent = sum(
        got_by[m] != owner_of[conversation_of[int(m[1:].split("m")[0])]] for m in got_by
    )
    for task in [*watchers, *drains]:
        task.cancel()
    for ws in sockets:
        await ws.close()
    await customers.close()
    for _, session, _, feed in consoles:
        await feed.close()
        await session.close()
    return {
        "latencies": latencies,
        "sent": len(sent_at),
        "lost": len(sent_at) - len(seen),
        "duplicated": sum(len(t) - 1 for t in seen.values()),
        "wrong_console": wrong_agent,
        "rate": len(sent_at) / elapsed,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        config_path = write_server_config(
            tmp, f"sqlite:///{tmp / 'relaydesk.db'}", always_open=True
        )
        agents = await add_agents(config_path)
        server, url = start_server(["--config", str(config_path)])
        try:
            await wait_healthy(server, url, timeout_s=120)
            print(f"server up at {url}")
            if args.idle:
                await idle_sockets(url, server.pid, args.idle, figures)
            if args.active:
                out = await delivery(url, agents, args.active, args.messages, args.think_ms)
                lat = out["latencies"]
                p50, p99 = percentile(lat, 50), percentile(lat, 99)
                figures.update(
                    active_conversations=args.active,
                    delivery_messages=out["sent"],
                    delivery_p50_ms=round(p50, 2),
                    delivery_p99_ms=round(p99, 2),
                    delivery_max_ms=round(max(lat), 2),
                    delivery_messages_per_s=round(out["rate"], 1),
                    delivery_lost=out["lost"],
                    delivery_duplicated=out["duplicated"],
                    delivery_to_wrong_console=out["wrong_console"],
                    server_rss_after_mb=round(rss_mb(server.pid), 1),
                )
                print(
                    f"delivery: {args.active} conversations held by {len(agents)} agents, "
                    f"{out['sent']} customer messages ({out['rate']:.1f}/s): widget -> console "
                    f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(lat):.1f} ms; lost "
                    f"{out['lost']}, duplicated {out['duplicated']}, wrong console "
                    f"{out['wrong_console']}"
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=1000, help="idle widget sockets (0: skip)")
    ap.add_argument("--active", type=int, default=100, help="active conversations (0: skip)")
    ap.add_argument("--messages", type=int, default=10, help="messages per customer")
    ap.add_argument("--think-ms", type=float, default=2000.0, help="mean pause between them")
    args = ap.parse_args()
    quiet_logging()
    emit_json(asyncio.run(bench(args)))


if __name__ == "__main__":
    main()
