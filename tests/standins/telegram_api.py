"""A local Telegram Bot API server for tests.

``TelegramStandIn`` listens on 127.0.0.1 (free port) and answers the Bot API the way
api.telegram.org does, so the real client libraries can talk to it::

    async with TelegramStandIn(token="123:ABC") as tg:
        bot = telegram.Bot("123:ABC", base_url=tg.base_url, base_file_url=tg.base_file_url)
        await bot.initialize()              # getMe
        tg.push_message(42, "/start CODE")  # a user writes to the bot
        updates = await bot.get_updates(timeout=1)
        await bot.send_message(42, "hi")
        assert tg.sent(42)[0].params["text"] == "hi"

Wire format, as Telegram accepts it and as python-telegram-bot 22 sends it:

* ``POST /bot<token>/<method>`` (GET works too; query-string parameters are merged in).
* Body ``application/x-www-form-urlencoded`` (PTB without files), ``multipart/form-data`` (PTB
  with files: the file is a part named after the parameter, e.g. ``photo``, or a part referenced
  as ``attach://<name>``) or ``application/json`` (other clients). In the two form encodings every
  value is a string: strings as they are, everything else JSON-encoded (``chat_id=42``,
  ``disable_notification=true``, ``reply_markup={"inline_keyboard": ...}``); the stand-in decodes
  them back, so ``params`` holds the same types whichever encoding was used.
* Answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...}``
  with HTTP status N, exactly like Telegram (401 wrong token, 404 unknown method, 400 bad
  request, 409 getUpdates conflicts, 429 flood control with ``parameters.retry_after``).

Deviations from the real service, on purpose: http:// webhook URLs on any port are accepted (the
tests serve plain HTTP on loopback), any chat id is reachable (unless ``block()``-ed), and no rate
limit applies unless injected with ``fail_next``.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import mimetypes
import random
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http import HTTPStatus
from typing import Any, Self
from urllib.parse import urlsplit

import telegram
from aiohttp import ClientError, ClientSession, ClientTimeout, web

from tests.standins.lifecycle import StandIn

__all__ = [
    "SECRET_TOKEN_HEADER",
    "SEND_METHODS",
    "Call",
    "TelegramStandIn",
    "UploadedFile",
    "WebhookDelivery",
]

SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SEND_METHODS: tuple[str, ...] = ("sendMessage", "sendPhoto", "sendDocument", "sendVideo")

# Parameters whose form value is a plain string and must not be JSON-decoded (``text="123"`` stays
# a string). Every other form value is JSON-decoded when it parses, as Telegram does.
_STRING_PARAMS = frozenset(
    [
        "action",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "description",
        "document",
        "emoji",
        "file_id",
        "inline_message_id",
        "ip_address",
        "language_code",
        "message_effect_id",
        "name",
        "parse_mode",
        "photo",
        "secret_token",
        "short_description",
        "text",
        "thumbnail",
        "title",
        "url",
        "video",
    ]
)
_UPDATE_TYPES_OFF_BY_DEFAULT = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
_CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
_INLINE_BUTTON_ACTIONS = frozenset(
    [
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ]
)
_HTML_TAGS = frozenset(
    [
        "a",
        "b",
        "blockquote",
        "code",
        "del",
        "em",
        "i",
        "ins",
        "pre",
        "s",
        "span",
        "strike",
        "strong",
        "tg-emoji",
        "tg-spoiler",
        "u",
    ]
)
_MDV2_RESERVED = frozenset("#+-={}.!()>")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BOT_COMMAND_RE = re.compile(
    r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@/])"
)
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_BAD_GATEWAY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_MEDIA_FIELD = {"sendPhoto": "photo", "sendDocument": "document", "sendVideo": "video"}


@dataclass(frozen=True)
class UploadedFile:
    """A file that arrived as a multipart part."""

    field_name: str
    filename: str | None
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


class Call(tuple[str, dict[str, Any]]):
    """One request the stand-in received. Unpacks and compares as ``(method, params)``.

    ``status`` is ``None`` while the request is still being answered (e.g. during a long poll or
    an injected delay), then the HTTP status sent back. ``failed`` is true for every answer that
    was not ``ok`` (injected faults, wrong token, bad requests); ``injected`` marks the ones caused
    by ``fail_next``. ``result`` is the ``result`` field of a successful answer.
    """

    files: dict[str, UploadedFile]
    content_type: str
    http_method: str
    received_at: float
    status: int | None
    description: str | None
    injected: bool
    result: Any

    def __new__(
        cls,
        method: str,
        params: dict[str, Any],
        *,
        files: dict[str, UploadedFile] | None = None,
        content_type: str = "",
        http_method: str = "POST",
    ) -> Self:
        self = super().__new__(cls, (method, params))
        self.files = files or {}
        self.content_type = content_type
        self.http_method = http_method
        self.received_at = time.time()
        self.status = None
        self.description = None
        self.injected = False
        self.result = None
        return self

    @property
    def method(self) -> str:
        return self[0]

    @property
    def params(self) -> dict[str, Any]:
        return self[1]

    @property
    def ok(self) -> bool:
        return self.status == HTTPStatus.OK

    @property
    def failed(self) -> bool:
        return self.status is not None and self.status != HTTPStatus.OK

    @property
    def pending(self) -> bool:
        return self.status is None

    def __repr__(self) -> str:
        state = "pending" if self.status is None else str(self.status)
        if self.injected:
            state += " injected"
        return f"Call({self.method!r}, {self.params!r}, {state})"


@dataclass
class WebhookDelivery:
    """One attempt to POST an update to the webhook, and what the webhook answered."""

    update_id: int
    attempt: int
    url: str
    status: int | None  # None: no HTTP answer (connection refused, timeout)
    body: str
    error: str | None = None
    update: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _Fault:
    status: int
    retry_after: int
    description: str | None
    times: int


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    allowed_updates: list[str] | None
    max_connections: int
    ip_address: str | None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Poll:
    terminated: str | None = None


GET_FILE_LIMIT = 20 * 1024 * 1024


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    file_name: str | None
    mime_type: str | None
    data: bytes | None = field(repr=False)

    @property
    def size(self) -> int | None:
        return None if self.data is None else len(self.data)


class _ApiError(Exception):
    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


def _bad_request(detail: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {detail}")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_form_value(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _as_int(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad_request(f'field "{name}" must be of type Integer')
    try:
        return int(value)
    except ValueError:
        raise _bad_request(f'field "{name}" must be of type Integer') from None


def _update_type(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _command_entities(text: str) -> list[dict[str, Any]]:
    """bot_command entities the way Telegram computes them (offsets in UTF-16 code units)."""
    return [
        {
            "offset": _utf16_len(text[: match.start()]),
            "length": _utf16_len(match.group()),
            "type": "bot_command",
        }
        for match in _BOT_COMMAND_RE.finditer(text)
    ]


def _file_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(48)[:56]


class _TelegramHTML(HTMLParser):
    """Checks text against Telegram's HTML parse mode and returns the plain text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._lines = source.splitlines(keepends=True)
        self._stack: list[str] = []
        self._text: list[str] = []

    def _byte_offset(self) -> int:
        line, col = self.getpos()
        prefix = "".join(self._lines[: line - 1]) + (
            self._lines[line - 1][:col] if self._lines else ""
        )
        return len(prefix.encode("utf-8"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        spoiler_span = tag == "span" and ("class", "tg-spoiler") in attrs
        if tag not in _HTML_TAGS or (tag == "span" and not spoiler_span):
            raise _bad_request(
                f'can\'t parse entities: Unsupported start tag "{tag}" at byte offset '
                f"{self._byte_offset()}"
            )
        self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self._stack or self._stack[-1] != tag:
            raise _bad_request(
                f"can't parse entities: Unexpected end tag at byte offset {self._byte_offset()}"
            )
        self._stack.pop()

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def plain_text(self) -> str:
        self.feed(self._source)
        self.close()
        if self._stack:
            raise _bad_request(
                "can't parse entities: Can't find end tag corresponding to start tag "
                f'"{self._stack[-1]}"'
            )
        return html.unescape("".join(self._text))


def _check_markdown_v2(text: str) -> None:
    """The MarkdownV2 rule bots trip over most: reserved characters must be escaped."""
    i, in_code, at_line_start = 0, False, True
    while i < len(text):
        char = text[i]
        if char == "\\":
            i, at_line_start = i + 2, False
            continue
        if text.startswith("```", i):
            in_code, i = not in_code, i + 3
            continue
        if char == "`":
            in_code = not in_code
        elif not in_code:
            if char == "]" and text.startswith("](", i):
                # Inline URL: only ')' and '\' must be escaped inside it.
                i += 2
                while i < len(text) and text[i] != ")":
                    i += 2 if text[i] == "\\" else 1
            elif char == "!" and text.startswith("![", i):
                pass
            elif char in _MDV2_RESERVED and not (char == ">" and at_line_start):
                raise _bad_request(
                    f"can't parse entities: Character '{char}' is reserved and must be escaped "
                    "with the preceding '\\'"
                )
        at_line_start = char == "\n"
        i += 1


Handler = Callable[[Call], Awaitable[Any]]


class TelegramStandIn(StandIn):
    """A Telegram Bot API server on loopback; see the module docstring.

    Recording: ``calls`` (every request, as ``Call``), ``sent()``, ``webhook_responses``.
    Producing updates: ``push_message``, ``push_callback``, ``push_photo``, ``push_update``.
    Faults: ``fail_next``, ``delay_next``, ``block``.
    """

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        username: str = "relaydesk_test_bot",
        first_name: str = "RelayDesk Test Bot",
        first_update_id: int | None = None,
        webhook_attempts: int = 3,
        webhook_retry_delay: float = 0.05,
        webhook_timeout: float = 5.0,
        strict_callback_queries: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__()
        self.token = token
        self.username = username
        self.first_name = first_name
        bot_id = token.split(":", 1)[0]
        self.bot_id = int(bot_id) if bot_id.isdigit() else 7_000_000_001
        self.webhook_attempts = webhook_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout
        self.strict_callback_queries = strict_callback_queries
        self.host = host

        self.calls: list[Call] = []
        self.webhook_responses: list[WebhookDelivery] = []
        self.commands: list[dict[str, Any]] = []  # the default scope's, for every language
        # Every list set, by (scope type, language_code); "" is "for every other language".
        self.command_lists: dict[tuple[str, str], list[dict[str, Any]]] = {}

        self._next_update_id = (
            first_update_id if first_update_id is not None else random.randint(5, 9) * 10**8
        )
        self._updates: list[dict[str, Any]] = []
        self._allowed_updates: list[str] | None = None
        self._webhook: _Webhook | None = None
        self._message_ids: dict[int | str, int] = {}
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._chat_instances: dict[int | str, str] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_paths: dict[str, _StoredFile] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, deque[tuple[float, bool]]] = {}
        self._blocked: set[int | str] = set()
        self._poll: _Poll | None = None

        self._session: ClientSession | None = None
        self._delivery_task: asyncio.Task[None] | None = None
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_media,
            "sendDocument": self._send_media,
            "sendVideo": self._send_media,
            "sendChatAction": self._send_chat_action,
            "answerCallbackQuery": self._answer_callback_query,
            "editMessageText": self._edit_message,
            "editMessageReplyMarkup": self._edit_message,
            "deleteMessage": self._delete_message,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getFile": self._get_file,
        }
        self._canonical = {name.lower(): name for name in self._handlers}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        await self._serve(app)
        self._session = ClientSession()
        self._delivery_task = asyncio.create_task(self._deliver_forever())

    async def close(self) -> None:
        self._closing.set()
        self._notify()
        if self._delivery_task is not None:
            self._delivery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery_task
        if self._session is not None:
            await self._session.close()
        await self._stop_serving()

    @property
    def base_url(self) -> str:
        """For ``telegram.Bot(base_url=...)``: the library appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[telegram.Bot]:
        """The real python-telegram-bot client, initialised against this stand-in."""
        bot = telegram.Bot(self.token, base_url=self.base_url, base_file_url=self.base_file_url)
        await bot.initialize()
        try:
            yield bot
        finally:
            await bot.shutdown()

    def api_url(self, method: str) -> str:
        """The full URL of one method, for clients that do not append the token themselves."""
        return f"{self.base_url}{self.token}/{method}"

    # ------------------------------------------------------------------ recording helpers

    def sent(self, chat_id: int | str | None = None, *, include_failed: bool = False) -> list[Call]:
        """sendMessage/sendPhoto/sendDocument/sendVideo calls in arrival order (successful ones
        unless ``include_failed``), optionally only those to ``chat_id``."""
        return [
            call
            for call in self.calls
            if call.method in SEND_METHODS
            and (call.ok or (include_failed and call.failed))
            and (chat_id is None or str(call.params.get("chat_id")) == str(chat_id))
        ]

    def sent_texts(self, chat_id: int | str | None = None) -> list[str]:
        """The text (or caption) of every successful send, in order."""
        return [str(c.params.get("text", c.params.get("caption", ""))) for c in self.sent(chat_id)]

    def calls_of(self, method: str, *, include_failed: bool = True) -> list[Call]:
        """Every call of ``method`` (attempts, including failed ones unless told otherwise)."""
        return [c for c in self.calls if c.method == method and (include_failed or c.ok)]

    async def wait_for_sent(
        self, n: int, timeout: float = 5, chat_id: int | str | None = None
    ) -> list[Call]:
        """Wait until at least ``n`` successful sends (to ``chat_id``) were recorded."""
        if not await self._wait_until(lambda: len(self.sent(chat_id)) >= n, timeout):
            raise TimeoutError(
                f"expected {n} send(s){'' if chat_id is None else f' to {chat_id}'} within "
                f"{timeout}s, got {len(self.sent(chat_id))}; calls: {self.calls!r}"
            )
        return self.sent(chat_id)

    async def wait_for_calls(self, method: str, n: int = 1, timeout: float = 5) -> list[Call]:
        """Wait until ``method`` was answered at least ``n`` times (failed attempts count)."""

        def answered() -> list[Call]:
            return [c for c in self.calls_of(method) if not c.pending]

        if not await self._wait_until(lambda: len(answered()) >= n, timeout):
            raise TimeoutError(f"expected {n} {method} call(s), got {self.calls_of(method)!r}")
        return answered()

    async def wait_for_webhook_responses(self, n: int, timeout: float = 5) -> list[WebhookDelivery]:
        if not await self._wait_until(lambda: len(self.webhook_responses) >= n, timeout):
            raise TimeoutError(f"expected {n} webhook deliveries, got {self.webhook_responses!r}")
        return self.webhook_responses

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed (getUpdates offset) or delivered (webhook)."""
        return deepcopy(self._updates)

    @property
    def webhook_url(self) -> str | None:
        return None if self._webhook is None else self._webhook.url

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        *,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error, as Telegram words it.

        429 is flood control (``parameters.retry_after``), 403 "bot was blocked by the user",
        500 "Internal Server Error", 502 nginx's HTML error page (not JSON, as on the real
        service), 400 "chat not found"; ``description`` overrides the wording.
        """
        key = self._method_name(method)
        self._faults.setdefault(key, deque()).append(
            _Fault(status, retry_after, description, times)
        )

    def delay_next(
        self, method: str, seconds: float, times: int = 1, *, takes_effect: bool = True
    ) -> None:
        """Sleep ``seconds`` before answering the next ``times`` calls of ``method``.

        By default the call still takes effect when the client gave up waiting (like on the real
        service, where a timed-out sendMessage is often delivered anyway). With
        ``takes_effect=False`` it never does: the request was lost on the way, and after the
        delay it is answered 504 Gateway Timeout (the client has usually stopped listening).
        """
        key = self._method_name(method)
        self._delays.setdefault(key, deque()).extend([(seconds, takes_effect)] * times)

    def _method_name(self, method: str) -> str:
        try:
            return self._canonical[method.lower()]
        except KeyError:
            known = ", ".join(sorted(self._handlers))
            raise ValueError(f"stand-in lacks {method!r}; it has: {known}") from None

    def block(self, chat_id: int | str) -> None:
        """The user blocked the bot: every send to ``chat_id`` fails with 403 until unblocked."""
        self._blocked.add(self._chat_key(chat_id))

    def unblock(self, chat_id: int | str) -> None:
        self._blocked.discard(self._chat_key(chat_id))

    # ------------------------------------------------------------------ update producers

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "zh",
    ) -> dict[str, Any]:
        """A user writes ``text`` in the private chat ``chat_id``; returns the Update dict."""
        user = self._user(
            user_id if user_id is not None else chat_id,
            first_name,
            last_name,
            username,
            language_code,
        )
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if entities := _command_entities(text):
            message["entities"] = entities
        return self.push_update({"message": message})

    def push_photo(
        self,
        chat_id: int,
        caption: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str = "Test",
        language_code: str = "zh",
    ) -> dict[str, Any]:
        """A user sends a photo (downloadable through getFile and ``base_file_url``)."""
        user = self._user(
            user_id if user_id is not None else chat_id, first_name, None, None, language_code
        )
        sizes = []
        for width, height in ((90, 67), (320, 240), (1280, 960)):
            jpeg = (
                b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + secrets.token_bytes(width // 2) + b"\xff\xd9"
            )
            stored = self._store_file(
                jpeg, "photos", "photo.jpg", "image/jpeg", prefix="AgACAgUAAxkBAA"
            )
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": stored.size,
                    "width": width,
                    "height": height,
                }
            )
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "photo": sizes,
        }
        if caption is not None:
            message["caption"] = caption
        return self.push_update({"message": message})

    def push_document(
        self,
        chat_id: int,
        data: bytes,
        file_name: str,
        mime_type: str | None,
        caption: str | None = None,
        *,
        language_code: str = "zh",
    ) -> dict[str, Any]:
        """A user sends a file (a Document, as Telegram sends a PDF or an uncompressed image),
        downloadable through getFile and ``base_file_url``."""
        user = self._user(chat_id, "Test", None, None, language_code)
        stored = self._store_file(data, "documents", file_name, mime_type, prefix="BQACAgUAAxkBAA")
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "file_size": stored.size,
        }
        if mime_type:
            document["mime_type"] = mime_type
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "document": document,
        }
        if caption is not None:
            message["caption"] = caption
        return self.push_update({"message": message})

    def push_callback(
        self,
        chat_id: int,
        data: str,
        message_id: int = 1,
        *,
        user_id: int | None = None,
        first_name: str = "Test",
        language_code: str = "zh",
    ) -> dict[str, Any]:
        """A user presses an inline button with ``data`` under the bot's message ``message_id``.

        If the bot sent that message, the update carries it (text and keyboard) as Telegram does.
        """
        user = self._user(
            user_id if user_id is not None else chat_id, first_name, None, None, language_code
        )
        key = self._chat_key(chat_id)
        message = self._messages.get((key, message_id)) or {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": "…",
        }
        query_id = str(random.randint(10**18, 9 * 10**18))
        self._callback_queries[query_id] = False
        callback_query = {
            "id": query_id,
            "from": user,
            "message": deepcopy(message),
            "chat_instance": self._chat_instances.setdefault(
                key, str(random.randint(-(2**63), 2**63 - 1))
            ),
            "data": data,
        }
        return self.push_update({"callback_query": callback_query})

    def push_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Enqueue any update (``update_id`` is assigned unless given); returns a copy."""
        stored = deepcopy(dict(update))
        if "update_id" not in stored:
            stored["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, int(stored["update_id"])) + 1
        self._updates.append(stored)
        self._notify()
        return deepcopy(stored)

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        raw_method = request.match_info["method"]
        method = self._canonical.get(raw_method.lower(), raw_method)
        try:
            params, files = await self._read_params(request)
        except _ApiError as err:
            call = self._record(Call(method, {}, content_type=request.content_type))
            if request.match_info["token"] != self.token:
                return self._error_response(call, _ApiError(401, "Unauthorized"))
            return self._error_response(call, err)
        call = self._record(
            Call(
                method,
                params,
                files=files,
                content_type=request.content_type if request.body_exists else "",
                http_method=request.method,
            )
        )
        if request.match_info["token"] != self.token:
            return self._error_response(call, _ApiError(401, "Unauthorized"))
        if method not in self._handlers:
            return self._error_response(call, _ApiError(404, "Not Found"))
        return await self._execute(call)

    async def _execute(self, call: Call) -> web.StreamResponse:
        delays = self._delays.get(call.method)
        if delays:
            seconds, takes_effect = delays.popleft()
            await self._sleep(seconds)
            if not takes_effect:
                call.injected = True
                return self._error_response(call, _ApiError(504, "Gateway Timeout"))
        fault = self._take_fault(call.method)
        if fault is not None:
            call.injected = True
            return self._fault_response(call, fault)
        try:
            result = await self._handlers[call.method](call)
        except _ApiError as err:
            return self._error_response(call, err)
        call.status, call.result = 200, result
        self._notify()
        payload: dict[str, Any] = {"ok": True, "result": result}
        if call.description:
            payload["description"] = call.description
        return web.json_response(payload)

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = {
            key: _decode_form_value(key, value) for key, value in request.query.items()
        }
        files: dict[str, UploadedFile] = {}
        if not request.body_exists:
            return params, files
        content_type = request.content_type
        if content_type == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise _bad_request("can't parse JSON object") from None
                if not isinstance(body, dict):
                    raise _bad_request("can't parse JSON object")
                params.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    upload = UploadedFile(
                        key, value.filename, value.content_type, value.file.read()
                    )
                    files[key] = upload
                    params[key] = upload
                else:
                    params[key] = _decode_form_value(key, str(value))
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                name = value.removeprefix("attach://")
                if name not in files:
                    raise _bad_request(f"file {name!r} not found in the request")
                params[key] = files[name]
        return params, files

    def _record(self, call: Call) -> Call:
        self.calls.append(call)
        self._notify()
        return call

    def _error_response(self, call: Call, err: _ApiError) -> web.Response:
        call.status, call.description = err.error_code, err.description
        self._notify()
        payload: dict[str, Any] = {
            "ok": False,
            "error_code": err.error_code,
            "description": err.description,
        }
        if err.parameters:
            payload["parameters"] = err.parameters
        return web.json_response(payload, status=err.error_code)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault

    def _fault_response(self, call: Call, fault: _Fault) -> web.Response:
        status = fault.status
        if status == HTTPStatus.BAD_GATEWAY and fault.description is None:
            call.status, call.description = status, "Bad Gateway"
            self._notify()
            return web.Response(status=status, text=_BAD_GATEWAY_PAGE, content_type="text/html")
        parameters = None
        default = {
            400: "Bad Request: chat not found",
            401: "Unauthorized",
            403: "Forbidden: bot was blocked by the user",
            404: "Not Found",
            409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
            "instance is running",
            500: "Internal Server Error",
        }.get(status)
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            default = f"Too Many Requests: retry after {fault.retry_after}"
            parameters = {"retry_after": fault.retry_after}
        if default is None:
            try:
                default = HTTPStatus(status).phrase
            except ValueError:
                default = "Unknown Error"
        return self._error_response(
            call, _ApiError(status, fault.description or default, parameters)
        )

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        stored = self._file_paths.get(request.match_info["path"])
        if stored is None or stored.data is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    # ------------------------------------------------------------------ waiting

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # ------------------------------------------------------------------ model helpers

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def _user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return dict(user)

    @staticmethod
    def _chat_key(chat_id: Any) -> int | str:
        if isinstance(chat_id, bool) or not isinstance(chat_id, int | str):
            raise _bad_request("chat not found")
        if isinstance(chat_id, str):
            if re.fullmatch(r"-?\d+", chat_id):
                return int(chat_id)
            if not re.fullmatch(r"@[A-Za-z0-9_]{4,32}", chat_id):
                raise _bad_request("chat not found")
        return chat_id

    def _chat(self, chat_id: int | str) -> dict[str, Any]:
        key = self._chat_key(chat_id)
        if isinstance(key, str):
            fake_id = -1_001_000_000_000 - abs(hash(key)) % 10**9
            return {"id": fake_id, "type": "channel", "title": key[1:], "username": key[1:]}
        if key < 0:
            kind = "supergroup" if str(key).startswith("-100") else "group"
            return {"id": key, "type": kind, "title": f"Group {key}"}
        chat: dict[str, Any] = {"id": key, "type": "private"}
        user = self._users.get(key, {"first_name": "Test"})
        for name in ("first_name", "last_name", "username"):
            if name in user:
                chat[name] = user[name]
        return chat

    def _next_message_id(self, chat_id: int | str) -> int:
        key = self._chat_key(chat_id)
        self._message_ids[key] = self._message_ids.get(key, 0) + 1
        return self._message_ids[key]

    def _require_chat(self, params: Mapping[str, Any]) -> int | str:
        if params.get("chat_id") in (None, ""):
            raise _bad_request("chat_id is empty")
        key = self._chat_key(params["chat_id"])
        if key in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return key

    def _bot_message(self, chat_key: int | str, content: dict[str, Any]) -> dict[str, Any]:
        message = {
            "message_id": self._next_message_id(chat_key),
            "from": self._bot_user(),
            "chat": self._chat(chat_key),
            "date": int(time.time()),
            **content,
        }
        self._messages[(chat_key, message["message_id"])] = message
        return deepcopy(message)

    @staticmethod
    def _formatted(text: str, parse_mode: Any) -> str:
        """Validate ``text`` against ``parse_mode``; returns the text Telegram would store."""
        if parse_mode in (None, ""):
            return text
        mode = str(parse_mode).lower()
        if mode == "html":
            return _TelegramHTML(text).plain_text()
        if mode == "markdownv2":
            _check_markdown_v2(text)
            return text
        if mode == "markdown":
            return text
        raise _bad_request("unsupported parse_mode")

    @staticmethod
    def _reply_markup(params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Validate reply_markup; returns it when it belongs in the Message (inline keyboards)."""
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                raise _bad_request("can't parse reply keyboard markup JSON object") from None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            if not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
                raise _bad_request("can't parse reply keyboard markup JSON object")
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request('field "inline_keyboard" must be an Array of Arrays')
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _bad_request(
                        "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                    )
                if not _INLINE_BUTTON_ACTIONS & button.keys():
                    raise _bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the "
                        "inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not (1 <= len(str(data).encode("utf-8")) <= 64):
                    raise _bad_request("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and urlsplit(str(url)).scheme not in ("http", "https", "tg"):
                    raise _bad_request(
                        f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
                    )
        return {"inline_keyboard": rows}

    def _store_file(
        self,
        data: bytes | None,
        folder: str,
        file_name: str | None,
        mime_type: str | None,
        *,
        prefix: str,
    ) -> _StoredFile:
        extension = mimetypes.guess_extension(mime_type or "") or ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        stored = _StoredFile(
            file_id=_file_id(prefix),
            file_unique_id="AQAD" + secrets.token_urlsafe(12)[:12],
            file_path=f"{folder}/file_{len(self._files)}{extension}",
            file_name=file_name,
            mime_type=mime_type,
            data=data,
        )
        self._files[stored.file_id] = stored
        self._file_paths[stored.file_path] = stored
        return stored

    # ------------------------------------------------------------------ methods

    async def _get_me(self, call: Call) -> Any:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _allowed(self, update: Mapping[str, Any], allowed: list[str] | None) -> bool:
        kind = _update_type(update)
        return kind not in _UPDATE_TYPES_OFF_BY_DEFAULT if not allowed else kind in allowed

    async def _get_updates(self, call: Call) -> Any:
        params = call.params
        if self._webhook is not None:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = _as_int(params, "offset", 0)
        limit = min(max(_as_int(params, "limit", 100), 1), 100)
        timeout = max(_as_int(params, "timeout", 0), 0)
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            if not isinstance(allowed, list):
                raise _bad_request("can't parse allowed updates")
            self._allowed_updates = [str(kind) for kind in allowed] or None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

        def ready() -> list[dict[str, Any]]:
            return [u for u in self._updates if self._allowed(u, self._allowed_updates)][:limit]

        if self._poll is not None:
            self._poll.terminated = (
                "Conflict: terminated by other getUpdates request; make sure that only one bot "
                "instance is running"
            )
            self._notify()
        poll = self._poll = _Poll()
        try:
            await self._wait_until(lambda: poll.terminated is not None or bool(ready()), timeout)
        finally:
            if self._poll is poll:
                self._poll = None
        if poll.terminated is not None:
            raise _ApiError(409, poll.terminated)
        return deepcopy(ready())

    async def _set_webhook(self, call: Call) -> Any:
        params = call.params
        url = params.get("url", "")
        if not isinstance(url, str):
            raise _bad_request("bad webhook: Failed to resolve host: Name or service not known")
        if url == "":
            return await self._delete_webhook(call)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise _bad_request("secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if allowed is not None and not isinstance(allowed, list):
            raise _bad_request("can't parse allowed updates")
        hook = _Webhook(
            url=url,
            secret_token=None if secret is None else str(secret),
            allowed_updates=[str(kind) for kind in allowed] if allowed else None,
            max_connections=_as_int(params, "max_connections", 40),
            ip_address=params.get("ip_address"),
        )
        if _truthy(params.get("drop_pending_updates", False)):
            self._updates.clear()
        same = self._webhook is not None and (
            (self._webhook.url, self._webhook.secret_token, self._webhook.allowed_updates)
            == (hook.url, hook.secret_token, hook.allowed_updates)
        )
        if self._poll is not None:
            self._poll.terminated = "Conflict: terminated by setWebhook request"
        self._webhook = hook
        self._notify()
        call.description = "Webhook is already set" if same else "Webhook was set"
        return True

    async def _delete_webhook(self, call: Call) -> Any:
        if _truthy(call.params.get("drop_pending_updates", False)):
            self._updates.clear()
        call.description = "Webhook was deleted" if self._webhook else "Webhook is already deleted"
        self._webhook = None
        self._notify()
        return True

    async def _get_webhook_info(self, call: Call) -> Any:
        hook = self._webhook
        info: dict[str, Any] = {
            "url": "" if hook is None else hook.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = hook.ip_address or self.host
            if hook.allowed_updates:
                info["allowed_updates"] = hook.allowed_updates
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    async def _send_message(self, call: Call) -> Any:
        params = call.params
        chat = self._require_chat(params)
        text = params.get("text")
        if text is None or str(text).strip() == "":
            raise _bad_request("message text is empty")
        text = str(text)
        if _utf16_len(text) > 4096:
            raise _bad_request("message is too long")
        content: dict[str, Any] = {"text": self._formatted(text, params.get("parse_mode"))}
        if content["text"].strip() == "":
            raise _bad_request("message text is empty")
        if (markup := self._reply_markup(params)) is not None:
            content["reply_markup"] = markup
        return self._bot_message(chat, content)

    async def _send_media(self, call: Call) -> Any:
        params = call.params
        kind = _MEDIA_FIELD[call.method]
        chat = self._require_chat(params)
        value = params.get(kind)
        if value is None or value == "":
            raise _bad_request(f"there is no {kind} in the request")
        content: dict[str, Any] = {}
        caption = params.get("caption")
        if caption is not None and str(caption) != "":
            if _utf16_len(str(caption)) > 1024:
                raise _bad_request("message caption is too long")
            content["caption"] = self._formatted(str(caption), params.get("parse_mode"))
        if (markup := self._reply_markup(params)) is not None:
            content["reply_markup"] = markup

        prefix = {
            "photo": "AgACAgUAAxkDAA",
            "document": "BQACAgUAAxkDAA",
            "video": "BAACAgUAAxkDAA",
        }
        if isinstance(value, UploadedFile):
            if value.size == 0:
                raise _bad_request("file must be non-empty")
            mime: str | None = value.content_type
            if mime in ("", "application/octet-stream") and value.filename:
                mime = mimetypes.guess_type(value.filename)[0] or mime
            stored = self._store_file(
                value.data, f"{kind}s", value.filename, mime or None, prefix=prefix[kind]
            )
        elif isinstance(value, str) and value in self._files:
            stored = self._files[value]
        elif isinstance(value, str) and urlsplit(value).scheme in ("http", "https"):
            name: str | None = urlsplit(value).path.rsplit("/", 1)[-1] or None
            mime = mimetypes.guess_type(name or "")[0]
            stored = self._store_file(None, f"{kind}s", name, mime, prefix=prefix[kind])
        else:
            raise _bad_request("wrong file identifier/HTTP URL specified")

        common: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
        }
        if stored.size is not None:
            common["file_size"] = stored.size
        if kind == "photo":
            thumb = {
                "file_id": _file_id(prefix["photo"]),
                "file_unique_id": "AQAD" + secrets.token_urlsafe(12)[:12],
                "width": 90,
                "height": 67,
            }
            content["photo"] = [thumb, {**common, "width": 800, "height": 600}]
        else:
            media = {**common}
            if stored.file_name:
                media["file_name"] = stored.file_name
            if stored.mime_type:
                media["mime_type"] = stored.mime_type
            if kind == "video":
                media.update(width=640, height=360, duration=1)
            content[kind] = media
        return self._bot_message(chat, content)

    async def _send_chat_action(self, call: Call) -> Any:
        self._require_chat(call.params)
        if call.params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    async def _answer_callback_query(self, call: Call) -> Any:
        query_id = call.params.get("callback_query_id")
        if query_id in (None, ""):
            raise _bad_request("QUERY_ID_INVALID")
        query_id = str(query_id)
        if self.strict_callback_queries and self._callback_queries.get(query_id, True):
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = call.params.get("text")
        if text is not None and len(str(text)) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = True
        return True

    def _find_message(self, params: Mapping[str, Any], action: str) -> tuple[int | str, int]:
        chat = self._require_chat(params)
        message_id = _as_int(params, "message_id", 0)
        if (chat, message_id) not in self._messages:
            raise _bad_request(f"message to {action} not found")
        return chat, message_id

    async def _edit_message(self, call: Call) -> Any:
        params = call.params
        chat, message_id = self._find_message(params, "edit")
        message = self._messages[(chat, message_id)]
        edited = dict(message)
        if call.method == "editMessageText":
            text = params.get("text")
            if text is None or str(text).strip() == "":
                raise _bad_request("message text is empty")
            if "text" not in message:
                raise _bad_request("there is no text in the message to edit")
            edited["text"] = self._formatted(str(text), params.get("parse_mode"))
        markup = self._reply_markup(params)
        edited.pop("reply_markup", None)
        if markup is not None:
            edited["reply_markup"] = markup
        if {k: v for k, v in edited.items() if k != "edit_date"} == {
            k: v for k, v in message.items() if k != "edit_date"
        }:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        edited["edit_date"] = int(time.time())
        self._messages[(chat, message_id)] = edited
        return deepcopy(edited)

    async def _delete_message(self, call: Call) -> Any:
        chat, message_id = self._find_message(call.params, "delete")
        del self._messages[(chat, message_id)]
        return True

    @staticmethod
    def _command_key(params: Mapping[str, Any]) -> tuple[str, str]:
        """setMyCommands' `scope` (default: BotCommandScopeDefault) and `language_code` (a
        two-letter ISO 639-1 code, or empty for every language without a list of its own)."""
        scope = params.get("scope") or {"type": "default"}
        if isinstance(scope, str):
            scope = json.loads(scope)
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise _bad_request("can't parse BotCommandScope JSON object")
        language = str(params.get("language_code") or "")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise _bad_request("LANG_CODE_INVALID")
        return scope["type"], language

    async def _set_my_commands(self, call: Call) -> Any:
        commands = call.params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("too many commands")
        key = self._command_key(call.params)
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("command description must be non-empty")
        self.command_lists[key] = [dict(c) for c in commands]
        if key == ("default", ""):
            self.commands = [dict(c) for c in commands]
        return True

    async def _get_my_commands(self, call: Call) -> Any:
        return deepcopy(self.command_lists.get(self._command_key(call.params), []))

    async def _delete_my_commands(self, call: Call) -> Any:
        key = self._command_key(call.params)
        self.command_lists.pop(key, None)
        if key == ("default", ""):
            self.commands = []
        return True

    async def _get_file(self, call: Call) -> Any:
        stored = self._files.get(str(call.params.get("file_id", "")))
        if stored is None:
            raise _bad_request("invalid file_id")
        if stored.size is not None and stored.size > GET_FILE_LIMIT:
            raise _bad_request("file is too big")  # the Bot API serves files up to 20 MB
        result: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_path": stored.file_path,
        }
        if stored.size is not None:
            result["file_size"] = stored.size
        return result

    # ------------------------------------------------------------------ webhook delivery

    async def _deliver_forever(self) -> None:
        while not self._closing.is_set():
            hook = self._webhook
            update = None
            if hook is not None and self._updates:
                update = self._updates[0]
                if not self._allowed(update, hook.allowed_updates):
                    self._updates.pop(0)  # Telegram never creates unwanted updates
                    continue
            if hook is None or update is None:
                event = self._changed
                await event.wait()
                continue
            await self._deliver(hook, update)
            with contextlib.suppress(ValueError):
                self._updates.remove(update)
            self._notify()

    async def _deliver(self, hook: _Webhook, update: dict[str, Any]) -> bool:
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        if hook.secret_token is not None:
            headers[SECRET_TOKEN_HEADER] = hook.secret_token
        for attempt in range(1, self.webhook_attempts + 1):
            status: int | None = None
            body, error = "", None
            reason = reply_type = ""
            try:
                async with self._session.post(
                    hook.url,
                    data=json.dumps(update, ensure_ascii=False).encode("utf-8"),
                    headers=headers,
                    timeout=ClientTimeout(total=self.webhook_timeout),
                ) as response:
                    status, reason = response.status, response.reason or ""
                    body = await response.text(errors="replace")
                    reply_type = response.content_type
            except (ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.webhook_responses.append(
                WebhookDelivery(update["update_id"], attempt, hook.url, status, body, error, update)
            )
            self._notify()
            if status is not None and 200 <= status < 300:
                if reply_type == "application/json":
                    await self._run_webhook_reply(body)
                return True
            hook.last_error_date = int(time.time())
            hook.last_error_message = (
                f"Wrong response from the webhook: {status} {reason}".rstrip()
                if status is not None
                else "Connection refused"
            )
            if attempt < self.webhook_attempts:
                await self._sleep(self.webhook_retry_delay)
            if self._closing.is_set():
                break
        return False

    async def _run_webhook_reply(self, body: str) -> None:
        """Telegram executes a method call returned as the webhook's answer."""
        try:
            reply = json.loads(body)
        except ValueError:
            return
        if not isinstance(reply, dict) or not isinstance(reply.get("method"), str):
            return
        params = {k: v for k, v in reply.items() if k != "method"}
        raw_method: str = reply["method"]
        method = self._canonical.get(raw_method.lower(), raw_method)
        call = self._record(
            Call(method, params, content_type="application/json", http_method="WEBHOOK-REPLY")
        )
        if method not in self._handlers:
            self._error_response(call, _ApiError(404, "Not Found"))
            return
        await self._execute(call)
