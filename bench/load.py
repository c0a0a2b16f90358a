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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from _common import (
    REPO,
    emit_json,
    free_port,
    percentile,
    print_table,
    quiet_logging,
    write_server_config,
)
from turns import PG_ADMIN, lines_pool, pg_admin

REDIS = os.environ.get("RELAYDESK_BENCH_REDIS", "redis://127.0.0.1:6379/9")
PASSWORD = "bench-password-1"
_CJK = re.compile(r"[\u4e00-\u9fff]")
_TAG = re.compile(r"#(\S+)$")
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
AGENT_SAYS = {
    "zh": ("您好，我是{name}，请问有什么可以帮您？", "好的，我来为您处理。"),
    "en": ("Hi, this is {name}. How can I help?", "Sure, I'm on it."),
}


# -- the servers -------------------------------------------------------------------------------
@dataclass
class Cluster:
    """N `relaydesk run` processes on one database and one Redis; logs under `tmp`."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, tmp: Path, storage_url: str, n: int) -> None:
        for i in range(n):
            folder = tmp / f"instance{i}"
            folder.mkdir()
            config = write_server_config(folder, storage_url, always_open=True)
            raw = yaml.safe_load(config.read_text("utf-8"))
            raw["server"]["redis_url"] = REDIS
            config.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
            port = str(free_port())
            cmd = [sys.executable, "-m", "bot", "run", "--config", str(config), "--port", port]
            log = folder / "server.log"
            with log.open("wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        cmd,
                        cwd=REPO,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            self.urls.append(f"http://127.0.0.1:{port}")
            self.logs.append(log)

    async def wait_ready(self, timeout_s: float = 240.0) -> None:
        """Until every instance answers /ready (store, engine and knowledge base open)."""
        deadline = time.perf_counter() + timeout_s
        async with aiohttp.ClientSession() as session:
            for proc, url in zip(self.procs, self.urls, strict=True):
                while True:
                    try:
                        async with session.get(f"{url}/ready") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if proc.poll() is not None:
                        raise RuntimeError(f"{url} exited before it was ready")
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"{url} was not ready in {timeout_s:.0f} s")
                    await asyncio.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def cpu_s(self) -> float:
        """CPU seconds the instances have used so far (all their threads)."""
        total = 0
        for proc in self.procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def tails(self, lines: int = 15) -> str:
        out = []
        for url, log in zip(self.urls, self.logs, strict=True):
            text = log.read_text("utf-8", "replace").splitlines()[-lines:]
            out.append(f"--- {url} ({log})\n" + "\n".join(text))
        return "\n".join(out)


async def prepare_database(storage_url: str, agents: int) -> list[str]:
    """Migrate the fresh database (before the instances start, so they do not race to) and add
    the agents, online in every skill group, with console passwords."""
    from bot.config import HandoffSection
    from bot.store.sql_store import SqlStore
    from handoff.console.accounts import Accounts

    store = await SqlStore.open(storage_url)
    names = [f"agent{i:02d}" for i in range(agents)]
    try:
        for name in names:
            await store.add_agent(
                name,
                name.title(),
                skills=list(HandoffSection().skill_groups),
                status="online",
                max_concurrent=100,
            )
            await Accounts(store).set_password(name, PASSWORD)
    finally:
        await store.close()
    return names


# -- the agents --------------------------------------------------------------------------------
class Agent:
    """One agent: console socket on a home instance; claims, replies (one per tagged customer
    line) and resolves (on a line tagged as the last) through every instance in turn."""

    def __init__(self, index: int, name: str, urls: list[str], team: int) -> None:
        self.index, self.name, self.urls, self.team = index, name, urls, team
        self.home = urls[index % len(urls)]
        self.turn = index
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""
        self.feed: Any = None
        self.queued: set[str] = set()
        self.trying: set[str] = set()
        self.answered: set[str] = set()
        self.seen: Counter[tuple[str, int]] = Counter()  # console message frames per message
        self.tasks: set[asyncio.Task[None]] = set()
        self.claims = self.conflicts = 0
        self.problems: list[str] = []
        self.closing = False

    def _next_url(self) -> str:
        self.turn += 1
        return self.urls[self.turn % len(self.urls)]

    async def start(self) -> None:
        async with self.session.post(
            f"{self.home}/api/console/login", json={"username": self.name, "password": PASSWORD}
        ) as r:
            if r.status != 200:
                raise RuntimeError(f"{self.name}: login refused: {await r.text()}")
            self.csrf = (await r.json())["csrf"]
        self.feed = await self.session.ws_connect(
            self.home.replace("http://", "ws://") + "/ws/console", origin=self.home, heartbeat=None
        )
        self._spawn(self._listen())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _post(self, path: str, body: dict[str, Any] | None = None, ok: int = 200) -> int:
        """POST through the next instance; an answer other than 200 (or `ok`) is a problem."""
        async with self.session.post(
            f"{self._next_url()}{path}", json=body or {}, headers={"X-CSRF-Token": self.csrf}
        ) as r:
            text = await r.text()
            if r.status not in (200, ok):
                self.problems.append(f"{self.name}: POST {path}: {r.status} {text[:200]}")
            return r.status

    async def _listen(self) -> None:
        async for msg in self.feed:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame["type"] == "queue":
                self.queued = {
                    i["conversation_id"] for i in frame["queue"] if i["status"] == "queued"
                }
                for item in frame["queue"]:
                    if item["status"] == "queued" and item["conversation_id"] not in self.trying:
                        self.trying.add(item["conversation_id"])
                        # One agent is first in line for each chat; the others step in only if
                        # it is still waiting a moment later (and then race, as people do).
                        first = item["handoff_id"] % self.team == self.index
                        self._spawn(self._claim(item, 0.0 if first else 2.0))
            elif frame["type"] == "message":
                m, cid = frame["message"], frame["conversation_id"]
                self.seen[(cid, m["seq"])] += 1
                found = _TAG.search(m["text"]) if m["sender"] == "customer" else None
                if found and found.group(1) not in self.answered:
                    self.answered.add(found.group(1))
                    self._spawn(self._reply(cid, found.group(1), m["text"]))
        if not self.closing:
            self.problems.append(f"{self.name}: the console socket closed ({self.feed.close_code})")

    async def _claim(self, item: dict[str, Any], delay_s: float) -> None:
        cid = item["conversation_id"]
        if delay_s:
            await asyncio.sleep(delay_s)
            if cid not in self.queued:
                return
        status = await self._post(f"/api/agent/conversations/{cid}/claim", ok=409)
        if status == 409:  # another agent was quicker
            self.conflicts += 1
        if status != 200:
            return
        self.claims += 1
        greeting = AGENT_SAYS["en" if item["language"] == "en" else "zh"][0].format(name=self.name)
        await self._post(f"/api/agent/conversations/{cid}/send", {"text": greeting})

    async def _reply(self, cid: str, tag: str, text: str) -> None:
        answer = AGENT_SAYS["zh" if _CJK.search(text) else "en"][1]
        await self._post(f"/api/agent/conversations/{cid}/send", {"text": f"{answer} [re:{tag}]"})
        if tag.endswith("e"):
            await self._post(f"/api/agent/conversations/{cid}/resolve")

    async def close(self) -> None:
        self.closing = True
        for task in list(self.tasks):
            task.cancel()
        if self.feed is not None:
            await self.feed.close()
        await self.session.close()


# -- the customers -----------------------------------------------------------------------------
@dataclass
class Log:
    """What one simulated customer sent and received, for the checks afterwards."""

    kind: str  # rest | web
    key: str
    handoff: bool = False
    sender: str = ""  # the REST sender, or the widget's token
    sent: list[tuple[str, str]] = field(default_factory=list)  # (external id, text)
    acked: set[str] = field(default_factory=set)
    received: list[tuple[str, int, str]] = field(default_factory=list)  # (conv, seq, sender)
    replies: dict[str, list[int]] = field(default_factory=dict)  # bot turn -> reply seqs
    bot_ms: list[float] = field(default_factory=list)
    agent_ms: list[float] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    step: str = ""  # what the session was doing, for a message if it stops
    escalated_by: str = ""  # the line whose turn handed the chat over


class GaveUp(Exception):
    """A customer stops their session: no answer in time, or the server refused a message."""


class RestCustomer:
    """The Rasa REST channel: each message to the next instance, long polls to the one after."""

    def __init__(self, log: Log, http: aiohttp.ClientSession, urls: list[str], first: int) -> None:
        self.log, self.http, self.urls, self.k = log, http, urls, first
        self.status = "bot"
        self.cursor = 0
        self.conversation = ""
        log.sender = f"load-{log.key}"

    def _url(self) -> str:
        self.k += 1
        return self.urls[self.k % len(self.urls)]

    def _got(self, item: dict[str, Any], sender: str) -> None:
        custom = item.get("custom") or {}
        self.conversation = custom.get("conversation_id", self.conversation)
        self.log.received.append((self.conversation, custom["seq"], custom.get("sender", sender)))
        self.cursor = max(self.cursor, custom["seq"])

    async def _post(self, text: str, ext: str) -> tuple[float, list[dict[str, Any]]]:
        self.log.sent.append((ext, text))
        started = time.perf_counter()
        async with self.http.post(
            f"{self._url()}/webhooks/rest/webhook",
            json={"sender": self.log.sender, "message": text, "message_id": ext},
        ) as r:
            body = await r.json() if r.status == 200 else None
            if body is None:
                self.log.errors.append(f"webhook {r.status}: {await r.text()}")
                raise GaveUp
            self.status = r.headers.get("X-Relaydesk-Status", self.status)
        self.log.acked.add(ext)
        return started, body

    async def bot_turn(self, text: str, ext: str, timeout_s: float) -> None:
        started, replies = await self._post(text, ext)
        for item in replies:
            self._got(item, "bot")
        self.log.replies[ext] = [item["custom"]["seq"] for item in replies]
        if replies:
            now = time.perf_counter()
            self.log.bot_ms.append((now - started) * 1000)
            self.log.answered_at.append(now)
        elif self.status == "bot":
            self.log.errors.append(f"no reply to {ext}")

    async def agent_turn(self, text: str, ext: str, tag: str, timeout_s: float) -> None:
        started, replies = await self._post(text, ext)
        for item in replies:  # none while an agent holds the chat
            self._got(item, "bot")
        await self._poll_until(lambda m: f"[re:{tag}]" in m.get("text", ""), timeout_s)
        now = time.perf_counter()
        self.log.agent_ms.append((now - started) * 1000)
        self.log.answered_at.append(now)

    async def wait_agent(self, timeout_s: float) -> None:
        await self._poll_until(lambda m: m["custom"]["sender"] == "agent", timeout_s)
        self.status = "assigned"

    async def wait_rating_request(self, timeout_s: float) -> None:
        await self._poll_until(lambda m: m["custom"]["sender"] == "bot", timeout_s)
        self.status = "resolved"

    async def rate(self, comment: str, ext: str, timeout_s: float) -> None:
        await self.bot_turn(f"/rate 5 {comment}", ext, timeout_s)

    async def _poll_until(self, wanted: Any, timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise GaveUp
            async with self.http.get(
                f"{self._url()}/webhooks/rest/messages",
                params={
                    "sender": self.log.sender,
                    "after": self.cursor,
                    "wait": min(10, max(1, int(left))),
                },
            ) as r:
                if r.status != 200:
                    self.log.errors.append(f"poll {r.status}: {await r.text()}")
                    raise GaveUp
                found = await r.json()
            hit = False
            for item in found:
                self._got(item, item["custom"]["sender"])
                hit = hit or wanted(item)
            if hit:
                return

    async def finish(self) -> None:
        """A last poll, as the client's next one would be: anything stored and not yet seen."""
        if self.conversation:
            async with self.http.get(
                f"{self._url()}/webhooks/rest/messages",
                params={"sender": self.log.sender, "after": self.cursor},
            ) as r:
                for item in await r.json():
                    self._got(item, item["custom"]["sender"])


class WebCustomer:
    """The widget's socket: one instance per session, then a resume on the next one halfway."""

    def __init__(self, log: Log, http: aiohttp.ClientSession, urls: list[str], first: int) -> None:
        self.log, self.http, self.urls, self.k = log, http, urls, first
        self.status = "bot"
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()
        self.frames = 0  # frames read so far: "after this one" is an index
        self.last_state = -1
        self.cursor = 0
        self.echo: dict[str, tuple[str, int]] = {}  # client_id -> (conversation, seq)
        self.messages: list[tuple[int, float, dict[str, Any]]] = []  # (frame index, time, frame)

    async def connect(self, language: str, timeout_s: float) -> None:
        url = self.urls[self.k % len(self.urls)].replace("http://", "ws://") + "/ws/widget"
        self.ws = await self.http.ws_connect(url, heartbeat=None)
        token = self.log.sender or None
        await self.ws.send_str(
            json.dumps(
                {"type": "hello", "token": token, "after": self.cursor, "language": language}
            )
        )
        self.reader = asyncio.create_task(self._read())
        await self._until(lambda: bool(self.log.sender) and self.last_state >= 0, timeout_s)

    async def reconnect(self, language: str, timeout_s: float) -> None:
        await self.close()
        self.k += 1
        self.last_state = -1
        await self.connect(language, timeout_s)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            self.frames += 1
            kind = frame["type"]
            if kind == "welcome":
                self.log.sender = frame["token"]
            elif kind == "state":
                self.status = frame["status"]
                self.last_state = self.frames
            elif kind == "error":
                self.log.errors.append(f"error frame: {frame}")
            elif kind == "message":
                self.cursor = max(self.cursor, frame["id"])
                cid, seq = frame["conversation_id"], frame["seq"]
                self.log.received.append((cid, seq, frame["sender"]))
                if frame["sender"] == "customer" and frame["client_id"]:
                    self.echo[frame["client_id"]] = (cid, seq)
                    self.log.acked.add(frame["client_id"])
                self.messages.append((self.frames, time.perf_counter(), frame))
            self.changed.set()

    async def _until(self, ready: Any, timeout_s: float) -> Any:
        deadline = time.perf_counter() + timeout_s
        while True:
            found = ready()
            if found:
                return found
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0 or (self.reader is not None and self.reader.done()):
                raise GaveUp
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                raise GaveUp from None

    def _after_echo(self, ext: str, wanted: Any) -> Any:
        """The first message after the echo of `ext` (same conversation) that `wanted` accepts."""
        if ext not in self.echo:
            return None
        cid, seq = self.echo[ext]
        return next(
            (
                (i, t, f)
                for i, t, f in self.messages
                if f["conversation_id"] == cid and f["seq"] > seq and wanted(f)
            ),
            None,
        )

    async def _send(self, frame: dict[str, Any], text: str, ext: str) -> float:
        self.log.sent.append((ext, text))
        started = time.perf_counter()
        await self.ws.send_str(json.dumps({**frame, "client_id": ext}))
        return started

    async def bot_turn(self, text: str, ext: str, timeout_s: float) -> None:
        started = await self._send({"type": "message", "text": text}, text, ext)
        await self._bot_answer(ext, started, timeout_s)

    async def _bot_answer(self, ext: str, started: float, timeout_s: float) -> None:
        index, at, _ = await self._until(
            lambda: self._after_echo(ext, lambda f: f["sender"] == "bot"), timeout_s
        )
        self.log.bot_ms.append((at - started) * 1000)
        self.log.answered_at.append(at)
        # The state frame that follows the reply says whether the bot still holds the chat.
        await self._until(lambda: self.last_state > index, timeout_s)
        cid, seq = self.echo[ext]
        self.log.replies[ext] = [
            f["seq"]
            for _, _, f in self.messages
            if f["conversation_id"] == cid and f["seq"] > seq and f["sender"] == "bot"
        ]

    async def agent_turn(self, text: str, ext: str, tag: str, timeout_s: float) -> None:
        started = await self._send({"type": "message", "text": text}, text, ext)
        _, at, _ = await self._until(
            lambda: self._after_echo(ext, lambda f: f"[re:{tag}]" in f["text"]), timeout_s
        )
        self.log.agent_ms.append((at - started) * 1000)
        self.log.answered_at.append(at)

    async def wait_agent(self, timeout_s: float) -> None:
        await self._until(lambda: self.status == "assigned", timeout_s)

    async def wait_rating_request(self, timeout_s: float) -> None:
        await self._until(
            lambda: self.messages and self.messages[-1][2]["sender"] == "bot", timeout_s
        )

    async def rate(self, comment: str, ext: str, timeout_s: float) -> None:
        text = f"/rate 5 {comment}"
        started = await self._send({"type": "rate", "score": 5, "comment": comment}, text, ext)
        await self._bot_answer(ext, started, timeout_s)

    async def finish(self) -> None:
        await self.close()  # everything came over the socket already


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


# -- the checks --------------------------------------------------------------------------------
async def verify(storage_url: str, logs: list[Log]) -> dict[str, int]:
    """Lost, duplicated and out-of-order messages: the database against the clients' logs.
    The first findings are printed, with the transcripts of the first two sessions concerned."""
    from bot.store.sql_store import SqlStore
    from connectors.web.identity import sender_for

    store = await SqlStore.open(storage_url)
    counts = {"lost": 0, "duplicated": 0, "reordered": 0, "late_queue_reply": 0}
    shown = 0
    try:
        for log in logs:
            if log.kind == "rest":
                customer = await store.find_customer("rest", log.sender)
            elif log.sender:
                customer = await store.find_customer("web", sender_for(log.sender))
            else:
                customer = None
            stored = await store.customer_messages(customer.id) if customer else []
            found = check_session(log, stored)
            for kind, _ in found:
                counts[kind] += 1
            if shown < 2 and any(kind != "late_queue_reply" for kind, _ in found):
                shown += 1
                print(f"    {log.kind} {log.key}: {found[:4]}; stored:", file=sys.stderr)
                for m in stored:
                    event = m.payload.get("event") or ""
                    print(
                        f"      {m.seq:>3} {m.sender:<8} {event:<14} {m.text[:50]!r}",
                        file=sys.stderr,
                    )
    finally:
        await store.close()
    return counts


def check_session(log: Log, stored: list[Any]) -> list[tuple[str, str]]:
    """(lost | duplicated | reordered | late_queue_reply, what) for one customer: their stored
    messages against what their client sent and received. A late queue reply is the bot's "you
    are number N in the queue" stored after a queue update or the agent's joining: not a loss
    by itself, but the customer reads stale news, and a REST client's `after` skips the news."""
    found: list[tuple[str, str]] = []
    mine = [m for m in stored if m.sender == "customer"]
    by_ext: dict[str, list[Any]] = {}
    for m in mine:
        by_ext.setdefault(m.external_id or "", []).append(m)
    # Customer messages: accepted -> stored once, with the text sent, in the order sent.
    sent_text = dict(log.sent)
    for e in sorted(log.acked):
        if e not in by_ext:
            found.append(("lost", f"accepted, not stored: {e}"))
        elif by_ext[e][0].text.strip() != sent_text[e].strip():
            found.append(("lost", f"stored with another text: {e}"))
    found += [
        ("duplicated", f"stored {len(v)} times: {e}") for e, v in by_ext.items() if len(v) > 1
    ]
    order = [m.external_id for m in sorted(mine, key=lambda m: (m.conversation_id, m.seq))]
    if order != [e for e, _ in log.sent if e in by_ext]:
        found.append(("reordered", f"stored in the order {order}"))
    # Each bot reply lies between its own message and the customer's next one.
    seqs = sorted(m.seq for m in mine)
    for e, replies in log.replies.items():
        if e in by_ext:
            own = by_ext[e][0].seq
            nxt = next((s for s in seqs if s > own), None)
            found += [
                ("reordered", f"reply {s} to {e} (seq {own}) is not before the next line ({nxt})")
                for s in replies
                if s <= own or (nxt is not None and s >= nxt)
            ]
    # One stored agent reply per line.
    tags = Counter(
        t for m in stored if m.sender == "agent" for t in re.findall(r"\[re:(\S+)\]", m.text)
    )
    found += [
        ("duplicated", f"agent reply to {t} stored {n} times") for t, n in tags.items() if n > 1
    ]
    # The escalating turn's reply ("you are number N in the queue") should come before any news
    # of that handoff (a queue update, the agent joining).
    line, queued = by_ext.get(log.escalated_by), log.replies.get(log.escalated_by)
    if line and queued:
        news = [
            m.payload.get("event") or m.sender
            for m in stored
            if line[0].seq < m.seq < max(queued) and m.seq not in queued
        ]
        if news:
            found.append(("late_queue_reply", f"queue reply {max(queued)} stored after {news}"))
    # Everything meant for the customer reached their client, once, in seq order.
    outbound = {
        (m.conversation_id, m.seq): m
        for m in stored
        if m.sender != "customer" and not m.payload.get("internal")
    }
    got = {(c, s) for c, s, sender in log.received if sender != "customer"}
    if log.timed_out:  # counted once, as the answer that never came
        found.append(("lost", f"stopped {log.step}"))
    else:
        found += [
            ("lost", f"never received: seq {k[1]} {m.sender} {m.payload.get('event') or ''}")
            for k, m in sorted(outbound.items())
            if k not in got
        ]
    found += [("lost", f"received seq {s}, which is not stored") for c, s in got - set(outbound)]
    seen = Counter((c, s) for c, s, _ in log.received)
    found += [("duplicated", f"received seq {s} {n} times") for (c, s), n in seen.items() if n > 1]
    last: dict[str, int] = {}
    for c, s, _ in log.received:
        if s < last.get(c, 0):
            found.append(("reordered", f"received seq {s} after {last[c]}"))
        last[c] = max(last.get(c, 0), s)
    return found


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
    storage_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    cluster = Cluster()
    agents: list[Agent] = []
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(prefix="relaydesk-load-") as t:
            names = await prepare_database(storage_url, args.agents)
            cluster.start(Path(t), storage_url, n)
            started = time.perf_counter()
            try:
                await cluster.wait_ready()
            except RuntimeError:
                print(cluster.tails(), file=sys.stderr)
                raise
            print(
                f"\n{n} instance(s) ready in {time.perf_counter() - started:.1f} s: "
                + ", ".join(cluster.urls)
            )
            async with aiohttp.ClientSession() as s:  # lazy imports and caches paid up front
                for url in cluster.urls:
                    for text in pool["zh"][:3] + pool["en"][:3]:
                        async with s.post(
                            f"{url}/webhooks/rest/webhook",
                            json={"sender": "warm-up", "message": text},
                        ) as r:
                            await r.read()
            agents = [Agent(i, a, cluster.urls, len(names)) for i, a in enumerate(names)]
            await asyncio.gather(*(a.start() for a in agents))
            for level in args.levels:
                cpu = cluster.cpu_s(), time.process_time()
                out = await run_level(cluster.urls, level, args, pool, f"n{n}")
                cpu = cluster.cpu_s() - cpu[0], time.process_time() - cpu[1]
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
        cluster.stop()
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
