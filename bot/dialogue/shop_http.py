"""What the clients of the shop's own systems share (the order API, orders_http.py; the Rasa
action server, actions.py): one aiohttp session per client, opened at first use with the
configured total time-out (again if it was closed), ended by `close()`."""

from __future__ import annotations

import aiohttp


class ShopHttpClient:
    def __init__(self, url: str, headers: dict[str, str], timeout_s: float) -> None:
        self.url = url
        self.headers = headers
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
