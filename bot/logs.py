"""Log lines that name the conversation they are about, and an optional JSON format.

Code that knows which conversation it works on (the dialogue engine after `begin_turn`, the
handoff service's actions, the agent API's `{cid}` routes) runs inside `conversation_context`;
`ConversationFilter`, on the handlers, copies the id onto every record logged meanwhile, and
`JsonFormatter` writes one JSON object per line. Nothing here logs requests: headers and bodies
(tokens, cookies, customers' messages) never reach the log through it.
"""

from __future__ import annotations

import functools
import json
import logging
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
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
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
