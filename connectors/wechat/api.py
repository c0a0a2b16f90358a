"""The WeChat API calls a support bot makes: the access token (shared by every instance,
connectors/wechat/token.py), the customer-service message, template messages, follower profiles
(user/info), the custom menu (menu/create) and temporary media (media/get, media/upload).
WeChat reports errors as `errcode` in a 200 response."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from connectors.outbox import RetryLater, Undeliverable
from connectors.wechat.token import AccessTokens

log = logging.getLogger(__name__)
STALE_TOKEN = {40001, 40014, 42001}  # invalid, malformed, expired access token
TRANSIENT = {-1, 45009, 45011}  # system busy, API frequency limits
WINDOW_CLOSED = {45015: "the 48-hour window closed", 45047: "the message quota is used up"}
NOT_FOLLOWING = 43004  # "require subscribe": the user does not follow the account
MAX_MEDIA_BYTES = 10 * 1024 * 1024  # WeChat's own limit on temporary images is 10 MB


class WindowClosed(Undeliverable):
    """WeChat refused a customer-service message: the window closed or its quota is used up
    (45015, 45047), whatever our own count said."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class WechatApi:
    def __init__(
        self,
        api_base: str,
        app_id: str,
        app_secret: str,
        *,
        timeout_s: float = 10.0,
        redis: Any = None,
        lease_s: float = 15.0,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.app_id, self.app_secret = app_id, app_secret
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.tokens = AccessTokens(self._fetch_token, app_id, redis, lease_s=lease_s)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def token(self, *, stale: str | None = None) -> str:
        return await self.tokens.get(stale=stale)

    async def _fetch_token(self) -> tuple[str, float]:
        params = {
            "grant_type": "client_credential",
            "appid": self.app_id,
            "secret": self.app_secret,
        }
        data = await self._call("GET", "/cgi-bin/token", params=params)
        if "access_token" not in data:
            raise RetryLater(f"WeChat gave no access token: {_error(data)}")
        return str(data["access_token"]), float(data.get("expires_in", 7200))

    async def call(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, **params: str
    ) -> dict[str, Any]:
        """An API call with the access token; a token WeChat refuses is replaced once. The
        answer, errcode and all (the caller decides what an error means). A body goes as UTF-8
        JSON, not `\\u` escapes, which some WeChat fields show as they are."""
        data: dict[str, Any] = {}
        stale: str | None = None
        for _ in range(2):
            token = await self.token(stale=stale)
            kwargs: dict[str, Any] = {"params": {**params, "access_token": token}}
            if body is not None:
                kwargs["data"] = json.dumps(body, ensure_ascii=False).encode()
                kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
            data = await self._call(method, path, **kwargs)
            if int(data.get("errcode", 0) or 0) not in STALE_TOKEN or stale is not None:
                return data
            log.info("wechat: access token refused (%s); one refresh", data.get("errcode"))
            stale = token
        return data

    async def send(self, body: dict[str, Any]) -> None:
        """A customer-service message (message/custom/send)."""
        _check(await self.call("POST", "/cgi-bin/message/custom/send", body=body), "the message")

    async def send_text(self, openid: str, content: str) -> None:
        await self.send({"touser": openid, "msgtype": "text", "text": {"content": content}})

    async def send_image(self, openid: str, media_id: str) -> None:
        await self.send({"touser": openid, "msgtype": "image", "image": {"media_id": media_id}})

    async def send_template(self, body: dict[str, Any]) -> str | None:
        """A template message (message/template/send); WeChat's msgid."""
        data = await self.call("POST", "/cgi-bin/message/template/send", body=body)
        _check(data, "the template message")
        return str(data["msgid"]) if data.get("msgid") is not None else None

    async def user_info(self, openid: str) -> dict[str, Any]:
        """A follower's profile (user/info). Since 2021 WeChat leaves out nickname and avatar
        for most accounts; `subscribe` 0 means the user does not follow (no other fields)."""
        data = await self.call("GET", "/cgi-bin/user/info", openid=openid, lang="zh_CN")
        _check(data, "the profile")
        return data

    async def create_menu(self, body: dict[str, Any]) -> None:
        _check(await self.call("POST", "/cgi-bin/menu/create", body=body), "the menu")

    async def media_get(self, media_id: str) -> tuple[bytes, str]:
        """A temporary media file's bytes and content type (media/get). WeChat answers an error
        as JSON instead of the file; a refused token is replaced once."""
        stale: str | None = None
        for _ in range(2):
            token = await self.token(stale=stale)
            params = {"access_token": token, "media_id": media_id}
            try:
                async with self._http().get(
                    self.api_base + "/cgi-bin/media/get", params=params
                ) as resp:
                    if resp.status != 200:
                        raise RetryLater(f"WeChat answered HTTP {resp.status}")
                    if resp.content_type in ("application/json", "text/plain"):
                        data = await resp.json(content_type=None)
                    else:
                        body = await resp.content.read(MAX_MEDIA_BYTES + 1)
                        if len(body) > MAX_MEDIA_BYTES:
                            raise Undeliverable(f"the file is over {MAX_MEDIA_BYTES} bytes")
                        return body, resp.content_type
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise RetryLater(f"WeChat unreachable: {exc!r}") from exc
            if int(data.get("errcode", 0) or 0) not in STALE_TOKEN or stale is not None:
                _check(data, "the file")
                raise Undeliverable(f"WeChat sent no file: {_error(data)}")
            stale = token
        raise RetryLater("WeChat refused the access token twice")

    async def media_upload(self, kind: str, data: bytes, filename: str, mime: str) -> str:
        """Upload a temporary media file (media/upload); its media_id (valid three days)."""
        stale: str | None = None
        result: dict[str, Any] = {}
        for _ in range(2):
            form = aiohttp.FormData()
            form.add_field("media", data, filename=filename, content_type=mime)
            token = await self.token(stale=stale)
            params = {"access_token": token, "type": kind}
            result = await self._call("POST", "/cgi-bin/media/upload", params=params, data=form)
            if int(result.get("errcode", 0) or 0) not in STALE_TOKEN or stale is not None:
                break
            stale = token
        _check(result, "the upload")
        if "media_id" not in result:
            raise RetryLater("WeChat gave no media_id for the upload")
        return str(result["media_id"])

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self._http().request(method, self.api_base + path, **kwargs) as resp:
                if resp.status != 200:
                    raise RetryLater(f"WeChat answered HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RetryLater(f"WeChat unreachable: {exc!r}") from exc
        if not isinstance(data, dict):
            raise RetryLater("WeChat answered something other than a JSON object")
        return data


def _check(data: dict[str, Any], what: str) -> None:
    """Raise for an errcode: retry on a busy or token error, else a permanent refusal."""
    code = int(data.get("errcode", 0) or 0)
    if code == 0:
        return
    if code in TRANSIENT or code in STALE_TOKEN:
        raise RetryLater(f"WeChat busy: {_error(data)}")
    if code in WINDOW_CLOSED:
        raise WindowClosed(code, f"WeChat: {WINDOW_CLOSED[code]} ({_error(data)})")
    raise Undeliverable(f"WeChat refused {what}: {_error(data)}")


def _error(data: dict[str, Any]) -> str:
    return f"{data.get('errcode')} {data.get('errmsg', '')}".strip()
