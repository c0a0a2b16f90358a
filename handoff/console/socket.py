"""The console's live feed: the queue, the agent's own chats, new messages in the chats they hold
or are looking at, and (for supervisors) the floor view.

Message frames go out as soon as the bus reports a stored message; the queue and the lists are
re-read at most every QUEUE_REFRESH_S and sent only when they changed.

Live signals (bot/events.py, across instances through Redis): the agent's `typing` (only in a
chat they hold) and `read` (in one they may see) are validated and relayed to the customer's
widget; the customer's typing and receipts reach the consoles holding or watching the chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from bot.errors import StoreUnavailableError
from bot.events import MessageEvent, SignalBus
from bot.http.keys import CONFIG
from bot.http.shutdown import LIVE
from bot.store.errors import NotFoundError
from bot.store.records import AgentRecord
from bot.store.sql_store import SqlStore
from handoff.console.agent_api import may_see, mine, queue_for, sees_all, supervisor_view
from handoff.console.auth import current_agent
from handoff.console.conversation_view import agent_names, message_json
from handoff.console.live_signals import SignalRelay
from handoff.console.services import CONSOLE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
QUEUE_REFRESH_S = 0.25
STORE_RETRY_S = 1.0  # while the database is away
MAX_WATCHED = 20


@routes.get("/ws/console")
async def console_socket(request: web.Request) -> web.WebSocketResponse:
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        # A page elsewhere must not ride on the agent's cookie (cross-site WebSocket hijacking).
        raise web.HTTPForbidden(text="the console socket is for the console's own origin")
    found = await current_agent(request)
    if found is None:
        raise web.HTTPUnauthorized(text="log in at /console first")
    services = request.app[CONSOLE]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=16 * 1024)
    await ws.prepare(request)
    live = request.app[LIVE]  # on SIGTERM told to reconnect (1012)
    live.add(ws)
    sla = request.app[CONFIG].console.first_response_sla_seconds
    open_sockets = services.metrics.websockets.labels(kind="console")
    open_sockets.inc()
    try:
        await ConsoleFeed(ws, services.store, found[0], sla, services.signals).run()
    finally:
        live.discard(ws)
        open_sockets.dec()
    return ws


class ConsoleFeed:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        store: SqlStore,
        agent: AgentRecord,
        sla_seconds: int,
        signals: SignalBus | None = None,
    ) -> None:
        self.ws = ws
        self.store = store
        self.agent = agent
        self.sla = sla_seconds
        self.watched: set[str] = set()
        self.held: set[str] = set()
        self.sent_seq: dict[str, int] = {}
        self.pending: set[str] = set()
        self.wake = asyncio.Event()
        self.lists_dirty = True
        self._last: dict[str, str] = {}
        # The first seq of each other conversation's events since the last list refresh: a chat
        # that turns out to be newly held at that refresh gets what came since its claim.
        self.since_refresh: dict[str, int] = {}
        self.published: dict[str, int] = {}
        self.relay = SignalRelay(self, signals) if signals is not None else None

    async def send(self, frame: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(frame, ensure_ascii=False, default=str))

    def _on_event(self, event: MessageEvent) -> None:
        self.lists_dirty = True
        cid = event.conversation_id
        # A message is sent only once its own event came: one stored but still in its turn
        # (no parse yet) waits for the turn to publish it.
        self.published[cid] = max(self.published.get(cid, 0), event.seq)
        if cid in self.watched or cid in self.held:
            self.pending.add(cid)
        elif cid not in self.since_refresh:
            self.since_refresh[cid] = event.seq
        self.wake.set()

    async def run(self) -> None:
        """Read the agent's frames while the two feeds run. A feed that stops (any error the
        feed itself does not wait out) closes the socket with 1011, so the console reconnects
        and starts a new feed instead of staying open and silent."""
        unsubscribe = self.store.bus.subscribe(self._on_event)
        who = self.agent.username
        feeds = [
            asyncio.create_task(self._messages(), name=f"console-messages:{who}"),
            asyncio.create_task(self._lists(), name=f"console-lists:{who}"),
        ]
        if self.relay is not None:
            feeds.append(asyncio.create_task(self.relay.run(), name=f"console-signals:{who}"))
        for t in feeds:
            t.add_done_callback(log_failure)
        reader = asyncio.create_task(self._read(), name=f"console-read:{who}")
        try:
            done, _ = await asyncio.wait([reader, *feeds], return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()  # the agent closed the socket (or reading failed: raise it)
            elif not self.ws.closed:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                await self.ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"feed stopped")
        finally:
            unsubscribe()
            if self.relay is not None:
                await self.relay.close()  # its typing stops with the socket
            for t in (reader, *feeds):
                t.cancel()
            for t in (reader, *feeds):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(msg.data)
            except ValueError:
                frame = None
            if not isinstance(frame, dict):
                await self.send({"type": "error", "message": "frames are JSON objects"})
                continue
            if frame.get("type") == "watch":
                cid = frame.get("conversation_id")
                if not isinstance(cid, str) or len(cid) > 64:
                    await self.send({"type": "error", "message": "watch needs a conversation_id"})
                    continue
                # Only what this agent may see (the same rule as the JSON API).
                try:
                    conv = await self.store.conversations.get(cid)
                except NotFoundError:
                    conv = None
                self.watched = (
                    {cid} if conv and await may_see(self.store, self.agent, conv) else set()
                )
                if conv is not None and self.watched:
                    self.sent_seq[cid] = conv.last_seq
            elif frame.get("type") == "ping":
                await self.send({"type": "pong"})
            elif frame.get("type") in ("typing", "read") and self.relay is not None:
                await self.relay.frame(frame)
            else:
                await self.send({"type": "error", "message": "unknown frame type"})

    async def _messages(self) -> None:
        while not self.ws.closed:
            await self.wake.wait()
            self.wake.clear()
            while self.pending:
                cid = self.pending.pop()
                try:
                    await self._send_new(cid)
                except StoreUnavailableError as exc:
                    # The database is away (restarting, failing over): keep the chat pending and
                    # try again, instead of leaving this console silent until a reload.
                    log.warning("console %s waits for the database: %s", self.agent.username, exc)
                    self.pending.add(cid)
                    await asyncio.sleep(STORE_RETRY_S)

    async def _send_new(self, cid: str) -> None:
        conv = await self.store.conversations.get(cid)
        if cid not in self.sent_seq:
            # A chat the agent just took: the page loads the transcript itself.
            self.sent_seq[cid] = conv.last_seq
            return
        upto = self.published.get(cid, 0)
        new = [m for m in await self.store.messages.of(cid, self.sent_seq[cid]) if m.seq <= upto]
        names = await agent_names(self.store) if any(m.sender == "agent" for m in new) else {}
        for m in new:
            await self.send(
                {
                    "type": "message",
                    "conversation_id": cid,
                    "message": message_json(m, conv.channel, names),
                }
            )
            self.sent_seq[cid] = m.seq

    async def _lists(self) -> None:
        while not self.ws.closed:
            if self.lists_dirty:
                self.lists_dirty = False
                try:
                    await self._send_lists()
                except StoreUnavailableError as exc:  # refreshed again once the database is back
                    log.warning("console %s waits for the database: %s", self.agent.username, exc)
                    self.lists_dirty = True
            await asyncio.sleep(QUEUE_REFRESH_S)

    async def _send_lists(self) -> None:
        recent, self.since_refresh = self.since_refresh, {}
        try:
            held = await mine(self.store, self.agent)
        except StoreUnavailableError:  # what came since the last refresh waits for the next
            for cid, seq in recent.items():
                self.since_refresh[cid] = min(seq, self.since_refresh.get(cid, seq))
            raise
        for cid in {i["conversation_id"] for i in held} - self.held:
            if cid in recent:  # messages came since the last refresh: send them
                self.sent_seq[cid] = min(self.sent_seq.get(cid, recent[cid]), recent[cid] - 1)
                self.pending.add(cid)
                self.wake.set()
            elif cid not in self.sent_seq:
                self.sent_seq[cid] = (await self.store.conversations.get(cid)).last_seq
        self.held = {i["conversation_id"] for i in held}
        keep = self.held | self.watched
        self.published = {c: n for c, n in self.published.items() if c in keep}
        frames: list[dict[str, Any]] = [
            {
                "type": "queue",
                "queue": await queue_for(self.store, self.agent),
                "sla_seconds": self.sla,
            },
            {"type": "mine", "conversations": held},
        ]
        if sees_all(self.agent):
            frames.append({"type": "supervisor", **await supervisor_view(self.store)})
        for frame in frames:
            # waiting_s changes every time; compare without it so an idle queue stays quiet.
            key = json.dumps(_without_clock(frame), sort_keys=True, default=str)
            if self._last.get(frame["type"]) != key:
                self._last[frame["type"]] = key
                await self.send(frame)


def log_failure(task: asyncio.Task[Any]) -> None:
    """A done-callback: a background task that ended with an error says so in the log."""
    if task.cancelled() or task.exception() is None:
        return
    log.error(
        "%s failed; its socket is closed so the client reconnects",
        task.get_name(),
        exc_info=task.exception(),
    )


def _without_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_clock(v)
            for k, v in value.items()
            if k not in ("waiting_s", "longest_wait_s")
        }
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value
