"""A local WeChat Official Account API server for tests, and helpers to play WeChat's side of
the webhook.

``WechatStandIn`` serves, on 127.0.0.1 (free port), what a customer-service bot calls::

    async with WechatStandIn(appid="wx123", secret="s3cr3t") as wx:
        # GET  {wx.api_base}/cgi-bin/token?grant_type=client_credential&appid=..&secret=..
        # POST {wx.api_base}/cgi-bin/message/custom/send?access_token=..  (JSON body)
        await wx.wait_for_messages(1)
        assert wx.messages[0]["content"] == "您好"

As on the real service, API errors come back with HTTP 200 and ``{"errcode": N, "errmsg": ...}``
in the body; only ``http_error_next`` produces a non-200 answer.

It enforces what the real server does to a customer-service message (message/custom/send):
the user must have interacted with the account (sent a message, clicked the menu, subscribed)
within the last 48 hours, else 45015; after each interaction at most 5 messages go out, the 6th
gets 45047; a user who unsubscribed gets 45015; a text over 2048 bytes of UTF-8 gets 45002; an
image needs a media_id that media/upload gave. WeChat learns of interactions from what it posts
to the bot: call ``observe(xml)`` with each plaintext post (the test rigs do), or
``customer_wrote(openid)``. ``shift_clock(hours)`` moves the stand-in's clock. It also serves
user/info (profiles set with ``add_follower``; since 2021 without nickname unless given),
menu/create (WeChat's menu limits), message/template/send (registered ``template_ids``; to
followers only, 43004 otherwise), media/get (files put with ``put_media``) and media/upload.

Tokens issued earlier stay valid when a new one is fetched (WeChat's five-minute overlap),
until ``expire_tokens()`` or until ``expires_in`` seconds have passed (then 42001
"access_token expired", as WeChat answers for a token that timed out; 40001 for one that is
unknown or was invalidated).

The module-level functions build what WeChat POSTs to the bot in plaintext mode (明文模式):
``signed_query`` (signature/timestamp/nonce query), ``text_message_xml``, ``event_xml``, and read
the bot's passive reply with ``parse_reply_xml``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.standins.lifecycle import StandIn

__all__ = [
    "Follower",
    "WechatCall",
    "WechatStandIn",
    "decrypt_reply",
    "encrypted_post",
    "event_xml",
    "parse_reply_xml",
    "signature",
    "signed_query",
    "text_message_xml",
]

TOKEN_PATH = "/cgi-bin/token"
STABLE_TOKEN_PATH = "/cgi-bin/stable_token"
CUSTOM_SEND_PATH = "/cgi-bin/message/custom/send"
CUSTOM_TYPING_PATH = "/cgi-bin/message/custom/typing"
TEMPLATE_SEND_PATH = "/cgi-bin/message/template/send"
USER_INFO_PATH = "/cgi-bin/user/info"
MENU_CREATE_PATH = "/cgi-bin/menu/create"
MEDIA_GET_PATH = "/cgi-bin/media/get"
MEDIA_UPLOAD_PATH = "/cgi-bin/media/upload"
WINDOW_S = 48 * 3600
WINDOW_MESSAGES = 5
MAX_TEXT_BYTES = 2048

ERRMSG: dict[int, str] = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40023: "invalid sub button size",
    40037: "invalid template_id",
    40055: "invalid button url domain",
    45002: "content size out of limit",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    42001: "access_token expired",
    43004: "require subscribe",
    44002: "empty post data",
    44004: "empty content",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    48001: "api unauthorized",
}
_MSGTYPES = frozenset(
    [
        "text",
        "image",
        "voice",
        "video",
        "music",
        "news",
        "mpnews",
        "mpnewsarticle",
        "msgmenu",
        "wxcard",
        "miniprogrampage",
        "link",
    ]
)
_ERROR_PAGE = "<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"


@dataclass
class WechatCall:
    """One request the stand-in received and what it answered."""

    path: str
    query: dict[str, str]
    body: Any
    status: int
    errcode: int | None
    injected: bool = False


@dataclass
class _Fault:
    endpoint: str
    times: int
    status: int = 200
    errcode: int = 0
    errmsg: str = ""


@dataclass
class _Token:
    value: str
    expires_at: float
    valid: bool = True


@dataclass
class _State:
    tokens: dict[str, _Token] = field(default_factory=dict)
    stable: _Token | None = None


@dataclass
class Follower:
    """What WeChat knows of one user of the account."""

    openid: str
    subscribed: bool = True
    last_interaction: float | None = None  # the stand-in's clock (time.time() + shift)
    sent_since: int = 0  # customer-service messages since the last interaction
    nickname: str | None = None  # since 2021 WeChat returns none for most accounts
    language: str | None = None
    subscribe_time: int = 0


class WechatStandIn(StandIn):
    """The WeChat Official Account API on loopback; see the module docstring."""

    def __init__(
        self,
        appid: str = "wx1234567890abcdef",
        secret: str = "relaydesk-test-secret",
        *,
        expires_in: int = 7200,
        rid_suffix: bool = False,
        content_type: str = "application/json; encoding=utf-8",
        host: str = "127.0.0.1",
        enforce_window: bool = True,
    ) -> None:
        """``rid_suffix``: append `` rid: …`` to error messages, as the live service does (for
        clients that must compare ``errcode``, never ``errmsg``). ``content_type``: the header
        on JSON answers; WeChat's own is ``application/json; encoding=utf-8``, some of its
        endpoints send ``text/plain``."""
        super().__init__()
        self.appid = appid
        self.secret = secret
        self.expires_in = expires_in
        self.rid_suffix = rid_suffix
        self.content_type = content_type
        self.host = host
        self.enforce_window = enforce_window
        self.clock_shift_s = 0.0
        self.followers: dict[str, Follower] = {}
        self.template_ids: set[str] = set()
        self.templates: list[dict[str, Any]] = []  # message/template/send bodies accepted
        self.menu: dict[str, Any] | None = None  # the last menu/create accepted
        self.media: dict[str, tuple[bytes, str]] = {}  # media_id -> (bytes, content type)
        self.uploads: list[dict[str, Any]] = []  # media/upload: type, filename, size, media_id
        self.user_info_requests = 0

        self.token_requests = 0
        self.issued_tokens: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.typing: list[dict[str, Any]] = []
        self.calls: list[WechatCall] = []

        self._state = _State()
        self._faults: deque[_Fault] = deque()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", TOKEN_PATH, self._handle_token)
        app.router.add_post(STABLE_TOKEN_PATH, self._handle_stable_token)
        app.router.add_post(CUSTOM_SEND_PATH, self._handle_custom_send)
        app.router.add_post(CUSTOM_TYPING_PATH, self._handle_typing)
        app.router.add_post(TEMPLATE_SEND_PATH, self._handle_template_send)
        app.router.add_get(USER_INFO_PATH, self._handle_user_info)
        app.router.add_post(MENU_CREATE_PATH, self._handle_menu_create)
        app.router.add_get(MEDIA_GET_PATH, self._handle_media_get)
        app.router.add_post(MEDIA_UPLOAD_PATH, self._handle_media_upload)
        await self._serve(app)

    async def close(self) -> None:
        await self._stop_serving()

    @property
    def api_base(self) -> str:
        return self.url

    # ------------------------------------------------------------------ test controls

    def now(self) -> float:
        return time.time() + self.clock_shift_s

    def shift_clock(self, hours: float) -> None:
        """Move the stand-in's clock (its 48-hour window) forward by ``hours``."""
        self.clock_shift_s += hours * 3600

    def follower(self, openid: str) -> Follower:
        return self.followers.setdefault(openid, Follower(openid, subscribe_time=int(self.now())))

    def add_follower(
        self, openid: str, *, nickname: str | None = None, language: str | None = None
    ) -> Follower:
        """A follower with the profile user/info gives (no nickname unless one is given)."""
        f = self.follower(openid)
        f.nickname, f.language, f.subscribed = nickname, language, True
        return f

    def customer_wrote(self, openid: str) -> None:
        """The user interacted (a message, a menu click, a subscribe): the window reopens."""
        f = self.follower(openid)
        f.subscribed, f.last_interaction, f.sent_since = True, self.now(), 0

    def unsubscribed(self, openid: str) -> None:
        self.follower(openid).subscribed = False

    def observe(self, xml: str | bytes) -> None:
        """What WeChat knows of a plaintext post it makes to the bot: the user's interaction.
        An encrypted or malformed body is ignored (call ``customer_wrote`` then)."""
        try:
            root = ET.fromstring(xml)
        except ET.ParseError:
            return
        openid, kind = root.findtext("FromUserName"), root.findtext("MsgType")
        if not openid or not kind:
            return
        event = (root.findtext("Event") or "").lower()
        if kind != "event" or event in ("subscribe", "click", "scan"):
            self.customer_wrote(openid)
        elif event == "unsubscribe":
            self.unsubscribed(openid)

    def put_media(self, media_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """A file users sent, for media/get."""
        self.media[media_id] = (data, content_type)

    @property
    def valid_tokens(self) -> list[str]:
        now = time.monotonic()
        return [t.value for t in self._state.tokens.values() if t.valid and t.expires_at > now]

    def expire_tokens(self) -> None:
        """Invalidate every issued access_token (next use: 40001)."""
        for token in self._state.tokens.values():
            token.valid = False
        self._state.stable = None

    def time_out_tokens(self) -> None:
        """Let every issued access_token reach its ``expires_in`` (next use: 42001)."""
        for token in self._state.tokens.values():
            token.expires_at = 0.0
        self._state.stable = None

    def clear_faults(self) -> None:
        """Forget the faults still queued by ``fail_next`` and ``http_error_next``."""
        self._faults.clear()

    def fail_next(
        self,
        errcode: int,
        errmsg: str | None = None,
        times: int = 1,
        *,
        endpoint: str = CUSTOM_SEND_PATH,
    ) -> None:
        """Answer the next ``times`` requests to ``endpoint`` (that carry a valid token) with
        ``{"errcode": errcode, "errmsg": errmsg}`` (HTTP 200), e.g. -1 "system error", 45015,
        45047. Nothing is recorded in ``messages`` for them."""
        message = errmsg if errmsg is not None else ERRMSG.get(errcode, "unknown error")
        self._faults.append(_Fault(endpoint, times, errcode=errcode, errmsg=message))

    def http_error_next(
        self, status: int = 500, times: int = 1, *, endpoint: str = CUSTOM_SEND_PATH
    ) -> None:
        """Answer the next ``times`` requests to ``endpoint`` with HTTP ``status`` and an HTML
        error page (before any token check, as a failing gateway would)."""
        self._faults.append(_Fault(endpoint, times, status=status))

    def texts(self, touser: str | None = None) -> list[str]:
        """The content of every text message sent (to ``touser``), in order."""
        return [
            str(m["content"])
            for m in self.messages
            if m["msgtype"] == "text" and (touser is None or m["touser"] == touser)
        ]

    async def wait_for_messages(self, n: int, timeout: float = 5) -> list[dict[str, Any]]:
        """Wait until at least ``n`` messages were sent through custom/send."""
        if not await self._wait_until(lambda: len(self.messages) >= n, timeout):
            raise TimeoutError(
                f"expected {n} WeChat message(s) within {timeout}s, got {len(self.messages)}: "
                f"{self.messages!r}; calls: {self.calls!r}"
            )
        return self.messages

    # ------------------------------------------------------------------ plumbing

    def _answer(
        self,
        call: WechatCall,
        errcode: int,
        errmsg: str | None = None,
        *,
        with_status: bool = False,
        **extra: Any,
    ) -> web.Response:
        """``extra``: the fields of a successful answer (alone, as the token endpoint answers;
        ``with_status``: after errcode 0 and "ok", as template/send does)."""
        message = errmsg if errmsg is not None else ERRMSG.get(errcode, "unknown error")
        if errcode != 0 and self.rid_suffix:
            message += f" rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
        payload: dict[str, Any] = {"errcode": errcode, "errmsg": message}
        if errcode == 0 and extra:
            payload = {**payload, **extra} if with_status else extra
        call.errcode = errcode
        self.calls.append(call)
        self._notify()
        return web.Response(
            body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": self.content_type},
        )

    def _take_fault(self, path: str, *, http: bool) -> _Fault | None:
        for fault in self._faults:
            if fault.endpoint == path and (fault.status != 200) == http:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _http_fault(self, call: WechatCall) -> web.Response | None:
        fault = self._take_fault(call.path, http=True)
        if fault is None:
            return None
        call.status, call.injected = fault.status, True
        self.calls.append(call)
        self._notify()
        return web.Response(
            status=fault.status,
            text=_ERROR_PAGE.format(status=fault.status),
            content_type="text/html",
        )

    def _check_token(self, call: WechatCall) -> tuple[int, str | None] | None:
        value = call.query.get("access_token", "")
        if not value:
            return 41001, None
        token = self._state.tokens.get(value)
        if token is None or not token.valid:
            return 40001, None
        if token.expires_at <= time.monotonic():
            return 42001, None
        fault = self._take_fault(call.path, http=False)
        if fault is not None:
            call.injected = True
            return fault.errcode, fault.errmsg
        return None

    def _issue(self, call: WechatCall, params: Mapping[str, Any], *, stable: bool) -> web.Response:
        self.token_requests += 1
        if params.get("grant_type") != "client_credential":
            return self._answer(call, 40002)
        if not params.get("appid"):
            return self._answer(call, 41002)
        if params.get("appid") != self.appid:
            return self._answer(call, 40013)
        if not params.get("secret"):
            return self._answer(call, 41004)
        if params.get("secret") != self.secret:
            return self._answer(call, 40001)
        fault = self._take_fault(call.path, http=False)
        if fault is not None:
            call.injected = True
            return self._answer(call, fault.errcode, fault.errmsg)
        now = time.monotonic()
        current = self._state.stable
        force = params.get("force_refresh") in (True, "true", 1)
        if (
            stable
            and current is not None
            and current.valid
            and current.expires_at > now
            and not force
        ):
            token = current
        else:
            value = f"{secrets.randbelow(90) + 10}_{secrets.token_urlsafe(102)}"
            token = _Token(value, now + self.expires_in)
            self._state.tokens[value] = token
            self.issued_tokens.append(value)
            if stable:
                self._state.stable = token
        return self._answer(
            call,
            0,
            access_token=token.value,
            expires_in=max(int(token.expires_at - now), 0) if stable else self.expires_in,
        )

    async def _handle_token(self, request: web.Request) -> web.Response:
        call = WechatCall(request.path, dict(request.query), None, 200, None)
        return self._http_fault(call) or self._issue(call, request.query, stable=False)

    async def _handle_stable_token(self, request: web.Request) -> web.Response:
        raw = await request.read()
        call = WechatCall(
            request.path, dict(request.query), raw.decode("utf-8", "replace"), 200, None
        )
        if (failed := self._http_fault(call)) is not None:
            return failed
        try:
            body = json.loads(raw)
        except ValueError:
            return self._answer(call, 47001)
        if not isinstance(body, dict):
            return self._answer(call, 47001)
        call.body = body
        return self._issue(call, body, stable=True)

    async def _read_json(self, request: web.Request, call: WechatCall) -> tuple[Any, int | None]:
        raw = await request.read()
        call.body = raw.decode("utf-8", "replace")
        if not raw.strip():
            return None, 44002
        try:
            body = json.loads(raw)
        except ValueError:
            return None, 47001
        call.body = body
        return (body, None) if isinstance(body, dict) else (None, 47001)

    async def _authorised_json(
        self, request: web.Request
    ) -> tuple[WechatCall, dict[str, Any], web.Response | None]:
        """An API call with a JSON body, checked as WeChat does: an injected HTTP fault, then
        the access token, then the body. The call, its body, and the answer when it fails."""
        call = WechatCall(request.path, dict(request.query), None, 200, None)
        if (failed := self._http_fault(call)) is not None:
            return call, {}, failed
        body, error = await self._read_json(request, call)
        if (token_error := self._check_token(call)) is not None:
            return call, {}, self._answer(call, *token_error)
        if error is not None:
            return call, {}, self._answer(call, error)
        return call, body, None

    async def _handle_custom_send(self, request: web.Request) -> web.Response:
        call, body, refused = await self._authorised_json(request)
        if refused is not None:
            return refused
        touser, msgtype = body.get("touser"), body.get("msgtype")
        if not isinstance(touser, str) or not touser:
            return self._answer(call, 40003)
        if msgtype not in _MSGTYPES:
            return self._answer(call, 40008)
        payload = body.get(msgtype)
        if not isinstance(payload, dict):
            return self._answer(call, 47001)
        if msgtype == "text":
            content: Any = payload.get("content")
            if not isinstance(content, str) or not content:
                return self._answer(call, 44004)
            if len(content.encode()) > MAX_TEXT_BYTES:
                return self._answer(call, 45002)
        elif msgtype == "image":
            content = payload.get("media_id")
            if content not in self.media:
                return self._answer(call, 40007)
        elif msgtype == "news":
            content = payload.get("articles")
            if not isinstance(content, list) or not content:
                return self._answer(call, 47001)
        else:
            content = payload
        if self.enforce_window:
            window_error = self._window(touser)
            if window_error is not None:
                return self._answer(call, window_error)
            self.followers[touser].sent_since += 1
        self.messages.append(
            {"touser": touser, "msgtype": msgtype, "content": content, "body": body}
        )
        return self._answer(call, 0)

    def _window(self, openid: str) -> int | None:
        """45015 outside the 48 hours after the user's last interaction (or after they
        unsubscribed), 45047 after the fifth message since it; None: allowed."""
        f = self.followers.get(openid)
        if f is None or not f.subscribed or f.last_interaction is None:
            return 45015
        if self.now() - f.last_interaction > WINDOW_S:
            return 45015
        if f.sent_since >= WINDOW_MESSAGES:
            return 45047
        return None

    async def _handle_template_send(self, request: web.Request) -> web.Response:
        call, body, refused = await self._authorised_json(request)
        if refused is not None:
            return refused
        touser = body.get("touser")
        if not isinstance(touser, str) or not touser:
            return self._answer(call, 40003)
        if body.get("template_id") not in self.template_ids:
            return self._answer(call, 40037)
        data = body.get("data")
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
        ):
            return self._answer(call, 47001)
        follower = self.followers.get(touser)
        if follower is None or not follower.subscribed:
            return self._answer(call, 43004)  # template messages reach followers only
        msgid = 200_000_000 + len(self.templates)
        self.templates.append(body)
        return self._answer(call, 0, with_status=True, msgid=msgid)

    async def _handle_user_info(self, request: web.Request) -> web.Response:
        call = WechatCall(request.path, dict(request.query), None, 200, None)
        if (failed := self._http_fault(call)) is not None:
            return failed
        if (token_error := self._check_token(call)) is not None:
            return self._answer(call, *token_error)
        self.user_info_requests += 1
        f = self.followers.get(request.query.get("openid", ""))
        if f is None:
            return self._answer(call, 40003)
        if not f.subscribed:
            return self._answer(call, 0, subscribe=0, openid=f.openid)
        info: dict[str, Any] = {
            "subscribe": 1,
            "openid": f.openid,
            "subscribe_time": f.subscribe_time,
            "remark": "",
            "groupid": 0,
            "tagid_list": [],
            "subscribe_scene": "ADD_SCENE_SEARCH",
            "qr_scene": 0,
            "qr_scene_str": "",
        }
        if f.nickname is not None:
            info["nickname"] = f.nickname
        if f.language is not None:
            info["language"] = f.language
        return self._answer(call, 0, **info)

    async def _handle_menu_create(self, request: web.Request) -> web.Response:
        call, body, refused = await self._authorised_json(request)
        if refused is not None:
            return refused
        error = _menu_error(body.get("button"))
        if error is not None:
            return self._answer(call, error)
        self.menu = body
        return self._answer(call, 0)

    async def _handle_media_get(self, request: web.Request) -> web.Response:
        call = WechatCall(request.path, dict(request.query), None, 200, None)
        if (failed := self._http_fault(call)) is not None:
            return failed
        if (token_error := self._check_token(call)) is not None:
            return self._answer(call, *token_error)
        found = self.media.get(request.query.get("media_id", ""))
        if found is None:
            return self._answer(call, 40007)
        call.errcode = 0
        self.calls.append(call)
        self._notify()
        data, kind = found
        return web.Response(
            body=data,
            headers={
                "Content-Type": kind,
                "Content-Disposition": 'attachment; filename="media"',
            },
        )

    async def _handle_media_upload(self, request: web.Request) -> web.Response:
        call = WechatCall(request.path, dict(request.query), None, 200, None)
        if (failed := self._http_fault(call)) is not None:
            return failed
        kind = request.query.get("type", "")
        data = b""
        filename = ""
        mime = ""
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if isinstance(part, BodyPartReader) and part.name == "media":
                    filename = part.filename or ""
                    mime = part.headers.get("Content-Type", "")
                    data = bytes(await part.read())
        if (token_error := self._check_token(call)) is not None:
            return self._answer(call, *token_error)
        limits = {"image": 10 * 1024 * 1024, "voice": 2 * 1024 * 1024, "thumb": 64 * 1024}
        if kind not in limits:
            return self._answer(call, 40004)
        if not data:
            return self._answer(call, 44001, "empty media data")
        if len(data) > limits[kind]:
            return self._answer(call, 40009, "invalid image size")
        media_id = secrets.token_urlsafe(48)
        self.media[media_id] = (data, mime or "application/octet-stream")
        self.uploads.append(
            {"type": kind, "filename": filename, "size": len(data), "media_id": media_id}
        )
        return self._answer(call, 0, type=kind, media_id=media_id, created_at=int(self.now()))

    async def _handle_typing(self, request: web.Request) -> web.Response:
        call, body, refused = await self._authorised_json(request)
        if refused is not None:
            return refused
        if not isinstance(body.get("touser"), str) or not body["touser"]:
            return self._answer(call, 40003)
        if body.get("command") not in ("Typing", "CancelTyping"):
            return self._answer(call, 47001)
        self.typing.append(body)
        return self._answer(call, 0)


def _menu_error(buttons: Any) -> int | None:
    """WeChat's checks on menu/create: 1-3 buttons, 1-5 under each, names of 16 (top) / 60
    bytes, click keys of 1-128 bytes, view URLs."""
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return 40016
    for top in buttons:
        if not isinstance(top, dict):
            return 40016
        error = _button_error(top, 16)
        if error is not None:
            return error
        subs = top.get("sub_button")
        if subs is not None:
            if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
                return 40023
            for sub in subs:
                if not isinstance(sub, dict) or "sub_button" in sub:
                    return 40023
                error = _button_error(sub, 60) or _typed_error(sub)
                if error is not None:
                    return error
        else:
            error = _typed_error(top)
            if error is not None:
                return error
    return None


def _button_error(button: dict[str, Any], max_name: int) -> int | None:
    name = button.get("name")
    if not isinstance(name, str) or not 0 < len(name.encode()) <= max_name:
        return 40018
    return None


def _typed_error(button: dict[str, Any]) -> int | None:
    kind = button.get("type")
    if kind == "click":
        key = button.get("key")
        return None if isinstance(key, str) and 0 < len(key.encode()) <= 128 else 40019
    if kind == "view":
        url = button.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return 40055
        return None if len(url.encode()) <= 1024 else 40055
    return 40017


# ------------------------------------------------------------------ WeChat's side of the webhook


def signature(token: str, timestamp: str | int, nonce: str) -> str:
    """The ``signature`` WeChat puts on webhook requests: sha1 of the sorted, joined strings."""
    return hashlib.sha1("".join(sorted([token, str(timestamp), nonce])).encode("utf-8")).hexdigest()


def signed_query(
    token: str,
    *,
    timestamp: str | int | None = None,
    nonce: str | None = None,
    echostr: str | None = None,
    openid: str | None = None,
) -> dict[str, str]:
    """The query string of a webhook request: ``signature``, ``timestamp``, ``nonce``, plus
    ``echostr`` (the GET URL-verification handshake) or ``openid`` (message pushes) if given."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce if nonce is not None else str(secrets.randbelow(9 * 10**9) + 10**9)
    query = {"signature": signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}
    if echostr is not None:
        query["echostr"] = echostr
    if openid is not None:
        query["openid"] = openid
    return query


def encrypted_post(
    token: str,
    encoding_aes_key: str,
    app_id: str,
    xml: str,
    *,
    compatible: bool = False,
    openid: str | None = None,
) -> tuple[dict[str, str], str]:
    """A message post in safe mode (安全模式), or with ``compatible`` in compatible mode (兼容模式:
    the plaintext fields beside ``Encrypt``), encrypted and signed by wechatpy's
    ``WeChatCrypto`` as WeChat does: the query (``signature``, ``timestamp``, ``nonce``,
    ``encrypt_type=aes``, ``msg_signature``) and the body."""
    from wechatpy.crypto import WeChatCrypto

    query = signed_query(token, openid=openid)
    sealed = WeChatCrypto(token, encoding_aes_key, app_id).encrypt_message(
        xml, query["nonce"], query["timestamp"]
    )
    fields = parse_reply_xml(sealed)
    query |= {"encrypt_type": "aes", "msg_signature": fields["MsgSignature"]}
    root = ET.fromstring(xml)
    account = root.findtext("ToUserName") or ""
    if compatible:  # WeChat's compatible-mode body: the plaintext message plus Encrypt
        inner = "".join(ET.tostring(child, encoding="unicode") for child in root)
        body = f"<xml>{inner}<Encrypt>{_cdata(fields['Encrypt'])}</Encrypt></xml>"
    else:
        body = _xml([("ToUserName", account), ("Encrypt", fields["Encrypt"])])
    return query, body


def decrypt_reply(token: str, encoding_aes_key: str, app_id: str, body: str) -> str:
    """An encrypted passive reply opened as WeChat does (wechatpy checks ``MsgSignature``
    against ``TimeStamp``, ``Nonce`` and ``Encrypt``, and the appid inside); the reply XML."""
    from wechatpy.crypto import WeChatCrypto

    fields = parse_reply_xml(body)
    crypto = WeChatCrypto(token, encoding_aes_key, app_id)
    opened: str = crypto.decrypt_message(
        body, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"]
    )
    return opened


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml(fields: list[tuple[str, str | int]]) -> str:
    """WeChat's layout: one element per line, strings in CDATA, numbers bare."""
    lines = [
        f"<{name}>{_cdata(value) if isinstance(value, str) else value}</{name}>"
        for name, value in fields
    ]
    return "<xml>" + "\n".join(lines) + "\n</xml>"


def text_message_xml(
    to_user: str,
    from_user: str,
    content: str,
    msg_id: int | str,
    create_time: int | None = None,
) -> str:
    """A user's text message as WeChat POSTs it: ``to_user`` is the account (``gh_…``),
    ``from_user`` the user's openid."""
    return _xml(
        [
            ("ToUserName", to_user),
            ("FromUserName", from_user),
            ("CreateTime", int(time.time()) if create_time is None else create_time),
            ("MsgType", "text"),
            ("Content", content),
            ("MsgId", int(msg_id)),
        ]
    )


def event_xml(
    to_user: str,
    from_user: str,
    event: str,
    event_key: str | None = None,
    *,
    create_time: int | None = None,
) -> str:
    """An event push (``subscribe``, ``unsubscribe``, ``CLICK`` with ``event_key``, …).
    subscribe carries an empty EventKey unless it came from a QR code (``qrscene_…``)."""
    fields: list[tuple[str, str | int]] = [
        ("ToUserName", to_user),
        ("FromUserName", from_user),
        ("CreateTime", int(time.time()) if create_time is None else create_time),
        ("MsgType", "event"),
        ("Event", event),
    ]
    if event_key is not None or event == "subscribe":
        fields.append(("EventKey", event_key or ""))
    return _xml(fields)


def _element_value(element: ET.Element) -> Any:
    children = list(element)
    if not children:
        return element.text or ""
    result: dict[str, Any] = {}
    for child in children:
        value = _element_value(child)
        if child.tag in result:
            existing = result[child.tag]
            result[child.tag] = (
                [*existing, value]
                if isinstance(existing, list)
                else [
                    existing,
                    value,
                ]
            )
        else:
            result[child.tag] = value
    return result


def parse_reply_xml(body: str) -> dict[str, Any]:
    """A passive reply as a dict of element name to text (all values strings, e.g.
    ``{"ToUserName": "openid", "FromUserName": "gh_…", "CreateTime": "1700000000",
    "MsgType": "text", "Content": "…"}``); nested elements (``Articles``/``item``,
    ``Image``/``MediaId``) become nested dicts, repeated ones lists. An empty body or
    ``success`` (WeChat's "no reply") gives ``{}``."""
    text = body.strip()
    if text in ("", "success"):
        return {}
    root = ET.fromstring(text)
    if root.tag != "xml":
        raise ValueError(f"not a WeChat reply: root element is <{root.tag}>")
    value = _element_value(root)
    return value if isinstance(value, dict) else {}
