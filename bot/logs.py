"""Log lines that name the conversation they are about, and an optional JSON format.

Code that knows which conversation it works on (the dialogue engine after `turns.begin`, the
handoff service's actions, the agent API's `{cid}` routes) runs inside `conversation_context`;
`ConversationFilter`, on the handlers, copies the id onto every record logged meanwhile, and
`JsonFormatter` writes one JSON object per line. Nothing here logs requests: headers and bodies
(tokens, cookies, customers' messages) never reach the log through it.

Libraries do log what they see, though: httpx logs every Bot API URL, and Telegram puts the bot
token in the path (`/bot<token>/sendMessage`); python-telegram-bot logs whole updates at DEBUG
(a `/start <link code>` among them). `install_redaction` makes every log record, whichever
logger made it and whichever handler writes it, pass through `redact` first: it removes the
secrets registered from the config at start-up and anything shaped like a credential in a URL.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

CONVERSATION_ID: ContextVar[str | None] = ContextVar("relaydesk_conversation_id", default=None)

S = TypeVar("S")
R = TypeVar("R")
P = ParamSpec("P")


@contextmanager
def conversation_context(conversation_id: str | None) -> Iterator[None]:
    """Tag what is logged inside the block with `conversation_id`."""
    token = CONVERSATION_ID.set(conversation_id)
    try:
        yield
    finally:
        CONVERSATION_ID.reset(token)


def about_conversation(
    fn: Callable[Concatenate[S, str, P], Awaitable[R]],
) -> Callable[Concatenate[S, str, P], Awaitable[R]]:
    """For a method whose first argument is a conversation id: run it in that context."""

    @functools.wraps(fn)
    async def wrapper(self: S, conversation_id: str, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with conversation_context(conversation_id):
            return await fn(self, conversation_id, *args, **kwargs)

    return wrapper


class ConversationFilter(logging.Filter):
    """Copies the current conversation id onto the record (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "conversation_id", None) is None:
            record.conversation_id = CONVERSATION_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, and
    conversation_id and exception when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC)
        out: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        conversation_id = getattr(record, "conversation_id", None)
        if conversation_id is not None:
            out["conversation_id"] = conversation_id
        if record.exc_text:  # already formatted (and redacted) when the record was made
            out["exception"] = record.exc_text
        elif record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def use_log_format(log_format: str, logger: logging.Logger | None = None) -> None:
    """Apply `server.log_format` to the handlers already set up on `logger` (the root logger):
    `json` switches them to JsonFormatter; both formats get the conversation filter."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, ConversationFilter) for f in handler.filters):
            handler.addFilter(ConversationFilter())
        if log_format == "json":
            handler.setFormatter(JsonFormatter())


# -- secrets out of the log ------------------------------------------------------------------
REDACTED = "[redacted]"
_MIN_SECRET = 6  # shorter values would blank out ordinary words
# Credentials that show up in URLs and texts whatever their value: a bot token in a Bot API
# path, a bot token anywhere, WeChat's access_token and app secret in query strings (and the
# token in its JSON answer), and a one-time link code after /start or in a t.me link.
_SHAPES = re.compile(
    r"(?P<keep>/(?:file/)?bot)\d+:[A-Za-z0-9_-]+"
    r"|\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"
    r"|(?P<keepq>\b(?:access_token|secret|appsecret|password|start)=)[^&\s\"'<>]+"
    r"|(?P<keepj>\"access_token\"\s*:\s*\")[^\"]+"
    r"|(?P<keeps>/start(?:@\w+)?\s+)[A-Za-z0-9_-]{8,}"
)


class _Secrets:
    """The registered secret values, matched longest first."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, values: tuple[str | None, ...]) -> None:
        with self._lock:
            new = {v for v in values if v and len(v) >= _MIN_SECRET} - self._values
            if new:
                self._values |= new
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(REDACTED, text)


_SECRETS = _Secrets()


def register_secrets(*values: str | None) -> None:
    """Values the log must never show (empty and very short ones are ignored). Process-wide:
    a registered value stays registered."""
    _SECRETS.add(values)


def redact(text: str) -> str:
    """`text` without registered secrets or credential-shaped parts."""
    return _SHAPES.sub(_keep_name, _SECRETS.redact(text))


def _keep_name(m: re.Match[str]) -> str:
    kept = m.group("keep") or m.group("keepq") or m.group("keepj") or m.group("keeps") or ""
    return kept + REDACTED


_PLAIN = logging.Formatter()


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return  # a broken format string: the handler reports it as it always does
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        # Exception texts carry URLs too; keep only the redacted rendering.
        record.exc_text = redact(_PLAIN.formatException(record.exc_info))
        record.exc_info = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_redaction() -> None:
    """Redact every log record from now on, whatever logger makes it and whatever handler
    writes it (the record factory is process-wide, so handlers added later are covered too).
    Installing it twice is harmless."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "relaydesk_redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    factory.relaydesk_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
