"""What a simulated customer says and does: a plan of lines (questions, and for a handoff a
request for a person and lines for the agent), one session played through a client, and a level
of C customer slots running sessions back to back for the duration."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

import aiohttp

from .customers import GaveUp, Log, RestCustomer, WebCustomer

ASK_HUMAN = {
    "zh": ["转人工", "人工客服", "我要找人工"],
    "en": ["talk to a person", "I want a human"],
}
TO_AGENT = {
    "zh": [
        "我的快递三天没动了，帮我查一下",
        "能退到原来的卡上吗",
        "包装破了，里面的东西也坏了",
        "订单202611180042什么时候发货",
        "好的，那我再等等",
        "发票能开公司抬头吗",
    ],
    "en": [
        "my parcel hasn't moved in three days, can you check?",
        "can you refund it to my card?",
        "the box arrived damaged",
        "when will order 202611180042 ship?",
        "ok, I'll wait a bit then",
        "can I get an invoice with my company name?",
    ],
}
CLOSING = {"zh": "好的，没有其他问题了，谢谢", "en": "ok, that's all, thanks"}


def session_plan(
    rng: random.Random, pool: dict[str, list[str]], messages: int, handoff: bool
) -> tuple[str, list[str]]:
    """A customer's language and lines: questions, and for a handoff a request for a person
    after one to three of them, then lines for the agent."""
    language = "zh" if rng.random() < 0.6 else "en"
    if not handoff:
        return language, [rng.choice(pool[language]) for _ in range(messages)]
    asked = rng.randint(1, max(1, min(3, messages - 2)))
    lines = [rng.choice(pool[language]) for _ in range(asked)]
    lines.append(rng.choice(ASK_HUMAN[language]))
    lines += [rng.choice(TO_AGENT[language]) for _ in range(max(1, messages - asked - 1))]
    return language, lines


async def run_session(
    client: Any,
    language: str,
    lines: list[str],
    think_s: float,
    timeout_s: float,
    rng: random.Random,
) -> None:
    log = client.log
    n = 0
    last_tagged = False  # the agent was told this line is the last (and resolves)

    def ext() -> str:
        nonlocal n
        n += 1
        return f"{log.key}-{n}"

    async def to_agent(text: str, last: bool) -> None:
        if client.status == "queued":
            log.step = "waiting for an agent"
            await client.wait_agent(timeout_s)
        tag = f"{log.key}.{n + 1}" + ("e" if last else "")
        log.step = f"waiting for the agent's answer to {tag}"
        await client.agent_turn(f"{text} #{tag}", ext(), tag, timeout_s)

    if isinstance(client, WebCustomer):
        await client.connect(language, timeout_s)
    for i, text in enumerate(lines):
        if i and think_s:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
        if isinstance(client, WebCustomer) and i == len(lines) // 2:
            # A dropped socket, picked up by the next instance: hello.after resumes it.
            await client.reconnect(language, timeout_s)
        if client.status in ("queued", "assigned"):
            log.handoff = True
            last_tagged = i == len(lines) - 1
            await to_agent(text, last=last_tagged)
        else:
            log.step = f"waiting for the bot's answer to line {i + 1}"
            line = ext()
            await client.bot_turn(text, line, timeout_s)
            if client.status in ("queued", "assigned"):
                log.escalated_by = line
    if client.status in ("queued", "assigned") and not last_tagged:
        log.handoff = True  # escalated by the bot on the last line: close the chat
        await to_agent(CLOSING[language], last=True)
    if log.handoff:
        log.step = "waiting for the rating request"
        await client.wait_rating_request(timeout_s)
        log.step = "waiting for the thanks for the rating"
        await client.rate("很满意" if language == "zh" else "quick and friendly", ext(), timeout_s)
    await client.finish()


async def run_level(
    urls: list[str], level: int, args: argparse.Namespace, pool: dict[str, list[str]], prefix: str
) -> dict[str, Any]:
    """C customer slots running sessions until the duration is up; returns the logs."""
    rng = random.Random(f"{prefix}{level}")
    logs: list[Log] = []
    counter = 0
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    started = time.perf_counter()
    end = started + args.duration

    async def slot(i: int) -> None:
        nonlocal counter
        await asyncio.sleep(rng.uniform(0, 0.5))
        while time.perf_counter() < end:
            counter += 1
            handoff = rng.random() < args.handoff_share
            language, lines = session_plan(rng, pool, args.messages, handoff)
            log = Log("web" if i % 2 == 0 else "rest", f"{prefix}c{level}s{counter}")
            logs.append(log)
            kind = WebCustomer if log.kind == "web" else RestCustomer
            client = kind(log, http, urls, counter)
            try:
                await run_session(client, language, lines, args.think_ms / 1000, args.timeout, rng)
            except (GaveUp, aiohttp.ClientError) as exc:
                log.timed_out = True
                log.errors.append(
                    f"stopped {log.step} ({type(exc).__name__} {exc}); status {client.status}, "
                    f"last received {log.received[-3:]}"
                )
                if isinstance(client, WebCustomer):
                    await client.close()

    try:
        await asyncio.gather(*(slot(i) for i in range(level)))
    finally:
        await http.close()
    return {"logs": logs, "started": started, "elapsed": time.perf_counter() - started}
