"""One JSON shape for every error the HTTP server returns, close to Rasa's error bodies:
`{"status": "failure", "code": <HTTP status>, "reason", "error", "message"}`.

`error` is a stable word a client can translate ("not_holder", "window_closed"): the one the
raised exception carries as `error_code` (set it with `refuse(...)` or on a RelaydeskError
subclass), else the status's default (`DEFAULT_ERRORS`). `message` stays the server's English
sentence for logs and scripts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from bot.errors import (
    InputError,
    InputTooLargeError,
    RelaydeskError,
    StoreUnavailableError,
    UnsupportedMediaTypeError,
)
from bot.http.keys import CONFIG, ERROR_OBSERVER

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RETRY_AFTER_S = 1  # what a client is told to wait while the database is unreachable
# Headers a handler wants on whatever error it ends with (CORS for a page on another origin,
# which could not read the error otherwise): set them with `keep_on_error`.
ERROR_HEADERS = web.RequestKey("error_headers", dict[str, str])
# The stable `error` of a status when the exception names none.
DEFAULT_ERRORS = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "bad_type",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}
HTTPError = TypeVar("HTTPError", bound=web.HTTPException)


def refuse(cls: type[HTTPError], error: str, message: str) -> HTTPError:
    """An HTTP error to raise whose JSON body carries `error` (a stable word) and `message`."""
    exc = cls(text=message)
    exc.error_code = error  # type: ignore[attr-defined]
    return exc


def error_code(exc: BaseException, status: int) -> str | None:
    """The stable `error` for an exception answered with `status`."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else DEFAULT_ERRORS.get(status)


def keep_on_error(request: web.Request, headers: dict[str, str]) -> dict[str, str]:
    """Have `headers` sent with any error this request ends with; returns them."""
    request[ERROR_HEADERS] = headers
    return headers


def error_response(
    status: int, reason: str, message: str, error: str | None = None
) -> web.Response:
    body = {"status": "failure", "code": status, "reason": reason, "message": message}
    error = error or DEFAULT_ERRORS.get(status)
    if error is not None:
        body["error"] = error
    return web.json_response(body, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await _answer(request, handler)
    if response.status >= 400:
        for name, value in request.get(ERROR_HEADERS, {}).items():
            response.headers.setdefault(
                name, value
            )  # counted by class only: a path or a body never becomes a label
        request.app[ERROR_OBSERVER](response.status)
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[CONFIG].server.max_body_bytes
        return error_response(
            413,
            "RequestEntityTooLarge",
            f"request body is larger than the limit of {limit} bytes (server.max_body_bytes)",
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(
            exc.status, exc.reason, exc.text or exc.reason, error_code(exc, exc.status)
        )
        # What the handler said beside the error (Retry-After, CORS, WWW-Authenticate) stays;
        # only the body's own headers are the JSON's.
        for name, value in exc.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response
    except InputTooLargeError as exc:
        return error_response(413, "RequestEntityTooLarge", str(exc), error_code(exc, 413))
    except UnsupportedMediaTypeError as exc:
        return error_response(415, "UnsupportedMediaType", str(exc), error_code(exc, 415))
    except InputError as exc:
        return error_response(400, "BadRequest", str(exc), error_code(exc, 400))
    except StoreUnavailableError as exc:
        # Nothing of this request was committed past what a retry dedupes (a message_id), so
        # the client can send it again.
        log.warning("request refused: %s", exc)
        response = error_response(503, "ServiceUnavailable", str(exc))
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
    except RelaydeskError as exc:
        log.error("request failed: %s", exc)
        return error_response(500, "InternalError", str(exc))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "InternalError", "internal error; the server log has details")
