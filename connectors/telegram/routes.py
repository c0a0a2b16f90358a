"""Telegram's webhook: `POST /webhooks/telegram`. Telegram signs nothing, but sends back the
secret given to setWebhook in `X-Telegram-Bot-Api-Secret-Token`; any other request is refused
with 403 before its body is read. The answer is 200 only once the message is stored: on any
other answer Telegram delivers the update again, and its update id makes that harmless."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from bot.errors import InputError
from bot.http.json_body import read_object
from connectors.telegram.connector import TelegramConnector

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def telegram_webhook(request: web.Request, connector: TelegramConnector) -> web.Response:
    if connector.settings.mode != "webhook":
        raise web.HTTPNotFound(text="the Telegram webhook is not enabled")
    expected = connector.settings.secret_token or ""
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return web.json_response({"message": "wrong or missing secret token"}, status=403)
    if not connector.ready.is_set():
        raise web.HTTPServiceUnavailable(text="starting up; Telegram will retry")
    data = await read_object(request, allowed=None, required={"update_id"})
    if not isinstance(data.get("update_id"), int):
        raise InputError("an update needs an integer 'update_id'")
    try:
        await connector.process_update(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"not a Telegram update: {exc}") from exc
    return web.json_response({"ok": True})
