"""The web-chat widget's server side: its script, the demo page, and the socket.

Delivery reads the store, never memory: the socket sends every message of the customer on the
web channel with an id above the browser's cursor, so a reconnect (`hello.after` = the last id
shown) replays exactly what was missed. The bus only says when to look.

A `dwell` frame (connectors/web/dwell.py) records a `page_dwell` customer event for the visitor
behind the socket. A visitor who never wrote has no customer record yet: the dwell creates it
(with the hello's language and page context) and opens a web conversation the socket watches,
so the proactive "need help?" reaches this widget (bot/server/proactive_reach.py).

Whichever conversation the socket watches it also announces as open in the shared registry of
online clients (connectors/web/beacon.py), refreshed while the socket lives and withdrawn when it
switches or closes, so the scheduler on any instance sees the widget.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from bot import clock
from bot.errors import InputError, StoreUnavailableError
from bot.events import SignalBus
from bot.http.shutdown import LIVE, LiveSockets
from bot.store.errors import NotFoundError
from bot.store.records import CustomerRecord, MessageRecord
from connectors.channel import ChannelServices, DeepLinking
from connectors.web.beacon import OnlineBeacon
from connectors.web.context import ContextError, build_context, parse_context
from connectors.web.dwell import EVENT_TYPE, MAX_PER_SOCKET, SOURCE, DwellError, parse_dwell
from connectors.web.identity import (
    CHANNEL,
    USER_CHANNEL,
    IdentityError,
    IdentityPolicy,
    new_token,
    sender_for,
    valid_token,
    verify_user,
)
from connectors.web.presence import FrameError, Presence
from connectors.web.settings import WebSettings

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
HELLO_TIMEOUT_S = 15
RETRY_AFTER_S = 1.0  # while the database is unreachable: when to send a message again
MAX_FRAME_BYTES = 64 * 1024
MAX_CLIENT_ID = 64
_MEDIA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.(svg|png|jpe?g|gif|webp|mp4|webm)$")


async def demo_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "demo.html", headers={"Cache-Control": "no-cache"})


async def widget_script(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC / "widget.js",
        # charset: host pages in GBK would otherwise garble the widget's Chinese strings.
        headers={
            "Content-Type": "text/javascript; charset=utf-8",
            "Cache-Control": "no-cache",
            "Access-Control-Allow-Origin": "*",
        },
    )


async def kb_media(request: web.Request, folder: Path) -> web.FileResponse:
    """Images and videos that knowledge answers point to (knowledge/media/)."""
    name = request.match_info["name"]
    if not _MEDIA_NAME.match(name):
        raise web.HTTPNotFound(text="no such media file")
    path = folder / name
    if not path.is_file():
        raise web.HTTPNotFound(text="no such media file")
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


async def widget_socket(
    request: web.Request, services: ChannelServices, web_cfg: WebSettings
) -> web.WebSocketResponse:
    origin = request.headers.get("Origin")
    if web_cfg.allowed_origins and origin not in web_cfg.allowed_origins:
        raise web.HTTPForbidden(text=f"origin {origin!r} may not embed this widget")
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    live = request.app[LIVE]  # on SIGTERM told to reconnect (1012)
    live.add(ws)
    open_sockets = services.metrics.websockets.labels(kind="widget")
    open_sockets.inc()
    try:
        await WidgetConnection(
            ws,
            services,
            IdentityPolicy(
                web_cfg.identity_secret,
                web_cfg.identity_max_age_seconds,
                web_cfg.legacy_identity_hash,
            ),
            web_cfg,
            services.signals,
            request.headers.get("User-Agent"),
            live=live,
        ).run()
    finally:
        live.discard(ws)
        open_sockets.dec()
    return ws


class WidgetConnection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        services: ChannelServices,
        identity: IdentityPolicy,
        settings: WebSettings,
        signals: SignalBus,
        user_agent: str | None = None,
        live: LiveSockets | None = None,
    ) -> None:
        self.ws = ws
        self.live = live if live is not None else LiveSockets()  # SIGTERM waits for its turns
        self.services = services
        self.limits = services.limits
        self.engine = services.engine
        self.store = services.store
        self.identity = identity
        self.settings = settings
        self.max_text = settings.max_text_chars
        self.user_agent = user_agent
        self._page: dict[str, str | None] | None = None  # hello.context, until it is stored
        self._identity: str | None = None  # the host's verified user id
        self._owned: set[str] = set()  # conversations delivered on this socket
        self.sender = ""
        self.customer: CustomerRecord | None = None
        self.cursor = 0
        self.language = "zh"
        self.wake = asyncio.Event()
        self.wake_up = self.wake.set
        self.presence = Presence(services.store, signals, self.wake_up)
        self.beacon = OnlineBeacon(services.online)
        self._unsubscribe: Any = None
        self._watching: str | None = None
        self._closer: asyncio.Task[bool] | None = None
        # Lines answered `retry` (the database was away), in the order sent: a later line is
        # answered `retry` too until they are stored, or it would be stored before them.
        self._refused: list[str] = []
        self._dwelt: set[str] = set()  # page views whose dwell this socket recorded

    async def send(self, frame: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(json.dumps(frame, ensure_ascii=False, default=str))

    async def error(self, message: str, code: str = "bad_request") -> None:
        await self.send({"type": "error", "code": code, "message": message})

    async def run(self) -> None:
        try:
            if not await self._hello():
                return
            pump = asyncio.create_task(self._pump(), name=f"widget-pump:{self.sender[:12]}")
            pump.add_done_callback(self._pump_done)
            keeper = asyncio.create_task(self.beacon.keep(), name="widget-online")
            try:
                await self._read()
            finally:
                pump.cancel()
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump  # an error of its own was logged by _pump_done
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
                if self._closer is not None:
                    with contextlib.suppress(Exception):
                        await self._closer
        finally:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self.presence.close()
            await self.beacon.close()  # after the keeper stopped: no refresh lands after it

    # -- the handshake -----------------------------------------------------------------------
    async def _hello(self) -> bool:
        try:
            msg = await self.ws.receive(timeout=HELLO_TIMEOUT_S)
        except TimeoutError:
            await self.ws.close(code=4408, message=b"no hello")
            return False
        if msg.type != WSMsgType.TEXT:
            return False
        frame = _json(msg.data)
        if frame is None or frame.get("type") != "hello":
            await self.error('the first frame must be {"type": "hello", ...}')
            await self.ws.close(code=4400, message=b"no hello")
            return False
        given = frame.get("token")
        token = given if isinstance(given, str) and valid_token(given) else new_token()
        after = frame.get("after", 0)
        self.cursor = after if isinstance(after, int) and after >= 0 else 0
        language = frame.get("language")
        self.language = language if language in ("zh", "en") else "zh"
        self.sender = sender_for(token)
        context_error = None
        try:
            self._page = parse_context(frame.get("context"))
        except ContextError as exc:  # the chat works without it: say why, after the welcome
            self._page, context_error = None, str(exc)
        if frame.get("user_id") is not None or frame.get("user_hash") is not None:
            try:
                user_id = verify_user(
                    self.identity,
                    frame.get("user_id"),
                    frame.get("user_hash"),
                    frame.get("user_ts"),
                    clock.now().timestamp(),
                )
            except IdentityError as exc:
                await self.error(str(exc), code="identity")
                await self.ws.close(code=4401, message=b"identity refused")
                return False
            known = await self.store.customers.for_identity(USER_CHANNEL, user_id)
            await self.store.customers.link(known.id, CHANNEL, self.sender)
            self._identity = user_id
        self.customer = await self.store.customers.find(CHANNEL, self.sender)
        await self.send(
            {
                "type": "welcome",
                "token": token,
                "language": self.language,
                "options": self.settings.options(self.language, telegram=self._telegram()),
            }
        )
        if context_error is not None:
            await self.error(context_error, code="bad_context")
        await self._record_context()
        conv = None
        if self.customer is not None:
            conv = await self.store.conversations.latest(self.customer.id, CHANNEL)
            if conv is not None:
                await self._watch(conv.id)
        await self._deliver()
        await self._state()
        if conv is not None:
            receipt = await self.presence.current(conv.id)
            if receipt is not None:
                await self.send(receipt)
        return True

    def _telegram(self) -> bool:
        telegram = self.services.channels.get("telegram")
        return isinstance(telegram, DeepLinking) and telegram.can_link()

    async def _record_context(self) -> None:
        """Store the hello's page context once the customer exists (a visitor who only looks
        leaves nothing behind; the first message records it)."""
        if self._page is None or self.customer is None:
            return
        page, self._page = self._page, None
        context = build_context(
            page, self.user_agent, identity=self._identity, language=self.language
        )
        try:
            await self.store.web_context.record(self.customer.id, context)
        except StoreUnavailableError as exc:  # only informs agents: not worth failing the chat
            log.info("web context not recorded: %s", exc)

    # -- customer -> server --------------------------------------------------------------------
    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.ERROR:
                    log.info("widget socket error: %s", self.ws.exception())
                continue
            frame = _json(msg.data)
            if frame is None:
                await self.error("frames are JSON objects")
                continue
            kind = frame.get("type")
            if kind == "message":
                await self._message(frame)
            elif kind == "rate":
                await self._rate(frame)
            elif kind == "link":
                await self._link(frame)
            elif kind == "ping":
                await self.send({"type": "pong"})
            elif kind in ("typing", "received", "read"):
                await self._presence(kind, frame)
            elif kind == "dwell":
                await self._dwell(frame)
            else:
                await self.error(
                    f"unknown frame type {kind!r}; expected message, rate, link, typing,"
                    " received, read, dwell or ping"
                )

    async def _presence(self, kind: str, frame: dict[str, Any]) -> None:
        try:
            if kind == "typing":
                await self.presence.typing(frame, self._watching)
            else:
                await self.presence.mark(kind, frame, self._owned, self.cursor)
        except (FrameError, InputError, NotFoundError) as exc:
            await self.error(str(exc))
        except StoreUnavailableError as exc:  # a mark is sent again with the next one
            log.info("widget %s not stored: %s", kind, exc)

    async def _dwell(self, frame: dict[str, Any]) -> None:
        """Time on a product page: a `page_dwell` event, once per page view."""
        if not self.settings.dwell.enabled:
            await self.error("page dwell is not enabled on this server")
            return
        try:
            dwell = parse_dwell(frame, self.settings.dwell)
        except DwellError as exc:
            await self.error(str(exc))
            return
        view = dwell.view_id or dwell.page_url
        if view in self._dwelt:
            return  # this page view was recorded already
        if len(self._dwelt) >= MAX_PER_SOCKET:
            await self.error(f"at most {MAX_PER_SOCKET} page views are reported per connection")
            return
        try:
            if self.customer is None:  # a visitor who only looks: the dwell makes them known
                self.customer = await self.store.customers.for_identity(
                    CHANNEL, self.sender, language=self.language
                )
                await self._record_context()
            # Watched before the event is stored, so the scheduler finds this widget live.
            conv = await self.store.conversations.active(self.customer.id, CHANNEL)
            await self._watch(conv.id)
            await self.store.customer_events.record(
                SOURCE,
                dwell.event_id(self.customer.id, uuid.uuid4().hex),
                EVENT_TYPE,
                self.customer.id,
                dwell.data(),
                clock.now(),
            )
        except StoreUnavailableError as exc:  # a nudge, not a message: not worth a retry
            log.info("page dwell not recorded: %s", exc)
            return
        self._dwelt.add(view)

    async def _message(self, frame: dict[str, Any]) -> None:
        text, client_id = frame.get("text"), frame.get("client_id")
        if not isinstance(text, str) or not text.strip():
            await self.error("'text' must be a non-empty string")
            return
        if len(text) > self.max_text:
            await self.error(f"messages are limited to {self.max_text} characters")
            return
        if not await self._client_id_ok(client_id):
            return
        wait = await self.limits.customer_wait(CHANNEL, self.sender)
        if wait:  # not stored: the widget keeps it in its outbox and sends it again
            await self.send(
                {
                    "type": "error",
                    "code": "rate_limited",
                    "message": f"too many messages; try again in {max(1, round(wait))} s",
                    "retry_after": round(wait, 1),
                    "client_id": client_id,
                }
            )
            return
        if isinstance(client_id, str) and self._refused and client_id != self._refused[0]:
            if client_id not in self._refused:
                self._refused.append(client_id)
            await self._retry(client_id)
            return
        await self._turn(text, client_id)

    async def _retry(self, client_id: Any) -> None:
        await self.send(
            {
                "type": "error",
                "code": "retry",
                "message": "the service is busy for a moment; sending again",
                "retry_after": RETRY_AFTER_S,
                "client_id": client_id,
            }
        )

    async def _client_id_ok(self, client_id: Any) -> bool:
        if client_id is None or (isinstance(client_id, str) and len(client_id) <= MAX_CLIENT_ID):
            return True
        await self.error(f"'client_id' must be a string of at most {MAX_CLIENT_ID} characters")
        return False

    async def _rate(self, frame: dict[str, Any]) -> None:
        score, comment = frame.get("score"), frame.get("comment") or ""
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            await self.error("'score' must be a whole number from 1 to 5")
            return
        if not isinstance(comment, str) or len(comment) > 2000:
            await self.error("'comment' must be a string of at most 2000 characters")
            return
        if not await self._client_id_ok(frame.get("client_id")):
            return
        await self._turn(f"/rate {score} {comment}".strip(), frame.get("client_id"))

    async def _link(self, frame: dict[str, Any]) -> None:
        """A deep link that carries this customer to the Telegram bot, history and all."""
        if frame.get("channel") != "telegram":
            await self.error("'channel' must be \"telegram\"")
            return
        telegram = self.services.channels.get("telegram")
        if not isinstance(telegram, DeepLinking) or not telegram.can_link():
            await self.error("Telegram is not connected on this server", code="unavailable")
            return
        if self.customer is None:
            self.customer = await self.store.customers.for_identity(CHANNEL, self.sender)
        url, code, expires = await telegram.link_url(self.customer.id)
        await self.send(
            {"type": "link", "channel": "telegram", "url": url, "code": code, "expires_at": expires}
        )

    async def _turn(self, text: str, client_id: Any) -> None:
        await self.send({"type": "typing", "on": True, "who": "bot", "name": None})
        refused = False
        try:
            async with self.live.turn():  # a restart lets it finish (bot/http/shutdown.py)
                result = await self.engine.handle(
                    CHANNEL,
                    self.sender,
                    text,
                    external_id=client_id if isinstance(client_id, str) else None,
                    language_hint=self.language,
                )
        except InputError as exc:  # refused before anything was stored
            await self.error(str(exc))
            return
        except StoreUnavailableError as exc:
            # Stored or not, sending it again is safe: a client_id already stored is answered
            # (its turn finished) rather than stored twice.
            log.warning("widget turn refused: %s", exc)
            refused = True
            if isinstance(client_id, str) and client_id not in self._refused:
                self._refused.append(client_id)
            await self._retry(client_id)
            return
        except Exception:
            log.exception("widget turn failed")
            await self.error("something went wrong on our side; your message is saved", "server")
            return
        finally:
            if not refused and client_id in self._refused:  # stored, or never will be
                self._refused.remove(client_id)
            await self.send({"type": "typing", "on": False, "who": "bot", "name": None})
        if self.customer is None:
            self.customer = await self.store.customers.get(result.customer_id)
            await self._record_context()
        await self._watch(result.conversation_id)
        # The pump is the only sender of messages, so two deliveries never read the same
        # cursor at once; wake it in case the turn's events came before the watch began.
        self.wake.set()

    # -- server -> customer --------------------------------------------------------------------
    async def _watch(self, conversation_id: str) -> None:
        if conversation_id == self._watching:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._watching = conversation_id
        self._owned.add(conversation_id)
        self._unsubscribe = self.store.bus.subscribe(lambda _e: self.wake.set(), conversation_id)
        self.presence.watch(conversation_id)
        await self.beacon.watch(conversation_id)  # subscribed first: nothing sent to it is missed

    async def _pump(self) -> None:
        """Deliver whatever the bus says is new (agent replies, queue updates, the rating
        request), reading it from the store after the cursor."""
        while not self.ws.closed:
            await self.wake.wait()
            self.wake.clear()
            try:
                if await self._deliver():
                    await self._state()
                while self.presence.frames:
                    await self.send(self.presence.frames.pop(0))
            except ConnectionResetError:
                return
            except StoreUnavailableError as exc:  # look again shortly; the cursor kept its place
                log.info("widget delivery postponed: %s", exc)
                await asyncio.sleep(RETRY_AFTER_S)
                self.wake.set()

    def _pump_done(self, task: asyncio.Task[None]) -> None:
        """The delivery feed stopped with an error it does not wait out: log it and close the
        socket with 1011, so the widget reconnects (and replays from its cursor) instead of
        staying open with nothing delivered."""
        if task.cancelled() or task.exception() is None:
            return
        log.error(
            "%s failed; closing the widget socket so it reconnects",
            task.get_name(),
            exc_info=task.exception(),
        )
        if not self.ws.closed and self._closer is None:
            self._closer = asyncio.create_task(
                self.ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"feed stopped")
            )

    async def _deliver(self) -> int:
        if self.customer is None:
            return 0
        sent = 0
        while True:
            batch = await self.store.messages.on_channel(self.customer.id, CHANNEL, self.cursor)
            for msg, agent in batch:
                await self.send(_message_frame(msg, agent))
                self._owned.add(msg.conversation_id)
                self.cursor = max(self.cursor, msg.id)
                sent += 1
            if len(batch) < 500:
                return sent

    async def _state(self) -> None:
        conv = None
        if self.customer is not None:
            conv = await self.store.conversations.latest(self.customer.id, CHANNEL)
        if conv is None:  # nobody has written yet (a new visitor, or a verified user)
            await self.send(
                {
                    "type": "state",
                    "status": "bot",
                    "position": None,
                    "agent": None,
                    "wait_minutes": None,
                    "ticket": None,
                    "awaiting_rating": False,
                }
            )
            return
        assert self.customer is not None
        handoff = await self.store.handoffs.active(conv.id)
        agent = None
        if handoff is not None and handoff.assigned_to is not None:
            agent = next(
                (
                    a.display_name
                    for a in await self.store.agents.all()
                    if a.id == handoff.assigned_to
                ),
                None,
            )
        awaiting = await self.store.ratings.awaiting(self.customer.id, CHANNEL)
        position = wait = None
        if handoff is not None and handoff.status == "queued":
            place = await self.engine.announcer.place(handoff)
            position, wait = place.position, place.wait_minutes
        await self.send(
            {
                "type": "state",
                "status": conv.status,
                "position": position,
                "wait_minutes": wait,
                "agent": agent,
                # The bot opened a ticket instead of queueing: the banner repeats its promise.
                "ticket": conv.state.get("ticket") if conv.status == "bot" else None,
                "awaiting_rating": awaiting is not None,
            }
        )


def _message_frame(msg: MessageRecord, agent: str | None) -> dict[str, Any]:
    payload = {k: v for k, v in msg.payload.items() if k != "text"}
    return {
        "type": "message",
        "id": msg.id,
        "seq": msg.seq,
        "conversation_id": msg.conversation_id,
        "sender": msg.sender,
        "text": msg.text,
        "payload": payload,
        "agent": agent if msg.sender == "agent" else None,
        "client_id": msg.external_id if msg.sender == "customer" else None,
        "at": msg.created_at.isoformat(),
    }


def _json(data: str) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
