"""One widget socket saying, on every instance, which conversation it has open
(bot.events.OnlineClients): so a proactive message stored by any instance goes to the open
widget live instead of to Telegram or WeChat (bot/server/proactive_reach.py).

The socket announces the conversation it watches, says it again every `refresh_s` while it
stays open (an entry lapses after its TTL, so a socket lost without a word, kill -9 or a dead
network, stops counting by itself), and says it is gone when it switches conversation or
closes. The registry never raises; a lock keeps a refresh from landing after a `gone`.
"""

from __future__ import annotations

import asyncio
import uuid

from bot.events import OnlineClients


class OnlineBeacon:
    """The online entry of one widget socket, for the conversation it watches."""

    def __init__(self, online: OnlineClients) -> None:
        self.online = online
        self.client = uuid.uuid4().hex  # this connection, not the visitor: tabs count apart
        self._conversation: str | None = None
        self._lock = asyncio.Lock()

    @property
    def conversation(self) -> str | None:
        return self._conversation

    async def watch(self, conversation_id: str) -> None:
        """The socket now has `conversation_id` open (and no longer the one before)."""
        async with self._lock:
            if conversation_id == self._conversation:
                return
            if self._conversation is not None:
                await self.online.gone(self._conversation, self.client)
            self._conversation = conversation_id
            await self.online.here(conversation_id, self.client)

    async def keep(self) -> None:
        """Refresh the entry until cancelled (run while the socket is open)."""
        while True:
            await asyncio.sleep(self.online.refresh_s)
            async with self._lock:
                if self._conversation is not None:
                    await self.online.here(self._conversation, self.client)

    async def close(self) -> None:
        """The socket closed: its conversation is no longer open here."""
        async with self._lock:
            if self._conversation is not None:
                await self.online.gone(self._conversation, self.client)
                self._conversation = None
