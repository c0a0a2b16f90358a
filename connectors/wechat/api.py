"""The WeChat API calls a support bot makes: an access token (fetched, cached and refreshed
before it expires; WeChat allows only a couple of thousand fetches a day) and the
customer-service message. WeChat reports errors as `errcode` in a 200 response."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp

from connectors.outbox import RetryLater, Undeliverable

log = logging.getLogger(__name__)
REFRESH_BEFORE_S = 300  # fetch a new token this long before the old one expires
STALE_TOKEN = {40001, 40014, 42001}  # invalid, malformed, expired access token
TRANSIENT = {-1, 45009, 45011}  # system busy, API frequency limits
WINDOW_CLOSED = {45015: "the 48-hour window closed", 45047: "the message quota is used up"}


class WechatApi:
    def __init__(
        self, api_base: str, app_id: str, app_secret: str, *, timeout_s: float = 10.0
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.app_id, self.app_secret = app_id, app_secret
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def token(self, *, renew: bool = False) -> str:
        async with self._lock:  # one fetch at a time, however many senders wait
            if renew or self._token is None or time.monotonic() > self._expires:
                data = await self._call(
                    "GET",
                    "/cgi-bin/token",
                    params={
                        "grant_type": "client_credential",
                        "appid": self.app_id,
                        "secret": self.app_secret,
                    },
                )
                if "access_token" not in data:
                    raise RetryLater(f"WeChat gave no access token: {_error(data)}")
                self._token = str(data["access_token"])
                lifetime = float(data.get("expires_in", 7200))
                self._expires = time.monotonic() + max(lifetime - REFRESH_BEFORE_S, lifetime / 2)
            return self._token

    async def send_text(self, openid: str, content: str) -> None:
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        for attempt in range(2):
            token = await self.token(renew=attempt > 0)
            data = await self._call(
                "POST", "/cgi-bin/message/custom/send", params={"access_token": token}, json=body
            )
            code = int(data.get("errcode", 0))
            if code == 0:
                return
            if code in STALE_TOKEN and attempt == 0:
                log.info("wechat: access token refused (%d); fetching a new one", code)
                continue
            if code in TRANSIENT or code in STALE_TOKEN:
                raise RetryLater(f"WeChat busy: {_error(data)}")
            if code in WINDOW_CLOSED:
                raise Undeliverable(f"WeChat: {WINDOW_CLOSED[code]} ({_error(data)})")
            raise Undeliverable(f"WeChat refused the message: {_error(data)}")

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self._http().request(method, self.api_base + path, **kwargs) as resp:
                if resp.status >= 500:
                    raise RetryLater(f"WeChat answered HTTP {resp.status}")
                if resp.status != 200:
                    raise RetryLater(f"WeChat answered HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RetryLater(f"WeChat unreachable: {exc!r}") from exc
        if not isinstance(data, dict):
            raise RetryLater("WeChat answered something other than a JSON object")
        return data


def _error(data: dict[str, Any]) -> str:
    return f"{data.get('errcode')} {data.get('errmsg', '')}".strip()
