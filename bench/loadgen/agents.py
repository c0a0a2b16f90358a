"""Simulated agents: each holds a console socket on a home instance and claims queued chats,
answers every tagged customer line and resolves on the last, through every instance in turn."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

import aiohttp

PASSWORD = "bench-password-1"
CJK = re.compile(r"[\u4e00-\u9fff]")
TAG = re.compile(r"#(\S+)$")
AGENT_SAYS = {
    "zh": ("您好，我是{name}，请问有什么可以帮您？", "好的，我来为您处理。"),
    "en": ("Hi, this is {name}. How can I help?", "Sure, I'm on it."),
}


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
                found = TAG.search(m["text"]) if m["sender"] == "customer" else None
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
        answer = AGENT_SAYS["zh" if CJK.search(text) else "en"][1]
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
