"""A local WeChat Official Account API server for tests, and helpers to play WeChat's side of
the webhook.

``WechatStandIn`` serves, on 127.0.0.1 (free port), what a customer-service bot calls::

    async with WechatStandIn(appid="wx123", secret="s3cr3t") as wx:
        # GET  {wx.api_base}/cgi-bin/token?grant_type=client_credential&appid=..&secret=..
        # POST {wx.api_base}/cgi-bin/message/custom/send?access_token=..  (JSON body)
        await wx.wait_for_messages(1)
        assert wx.messages[0]["content"] == "您好"

As on the real service, API errors come back with HTTP 200 and ``{"errcode": N, "errmsg": ...}``
in the body; only ``http_error_next`` produces a non-200 answer. Tokens issued earlier stay valid
when a new one is fetched (WeChat's five-minute overlap), until ``expire_tokens()`` or until
``expires_in`` seconds have passed (then 42001 "access_token expired", as WeChat answers for a
token that timed out; 40001 for one that is unknown or was invalidated).

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

from aiohttp import web

from tests.standins.lifecycle import StandIn

__all__ = [
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

ERRMSG: dict[int, str] = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
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
        await self._serve(app)

    async def close(self) -> None:
        await self._stop_serving()

    @property
    def api_base(self) -> str:
        return self.url

    # ------------------------------------------------------------------ test controls

    @property
    def valid_tokens(self) -> list[str]:
        now = time.monotonic()
        return [t.value for t in self._state.tokens.values() if t.valid and t.expires_at > now]

    def expire_tokens(self) -> None:
        """Invalidate every issued access_token (next use: 40001)."""
        for token in self._state.tokens.values():
            token.valid = False
        self._state.stable = None

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
        self, call: WechatCall, errcode: int, errmsg: str | None = None, **extra: Any
    ) -> web.Response:
        message = errmsg if errmsg is not None else ERRMSG.get(errcode, "unknown error")
        if errcode != 0 and self.rid_suffix:
            message += f" rid: {secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
        payload: dict[str, Any] = (
            extra
            if errcode == 0 and extra
            else {
                "errcode": errcode,
                "errmsg": message,
            }
        )
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
        elif msgtype == "news":
            content = payload.get("articles")
            if not isinstance(content, list) or not content:
                return self._answer(call, 47001)
        else:
            content = payload
        self.messages.append(
            {"touser": touser, "msgtype": msgtype, "content": content, "body": body}
        )
        return self._answer(call, 0)

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
