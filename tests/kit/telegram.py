"""A `relaydesk run` polling the Telegram Bot API stand-in, and what it has to send read back
from both sides: the messages stored for a chat, and the texts the stand-in received."""

from __future__ import annotations

from typing import Any

from bot.store.records import MessageRecord
from bot.store.sql_store import SqlStore
from tests.standins.telegram_api import TelegramStandIn

TOKEN = "123456:relaydesk-fault-test"
TOKEN_ENV = {"RELAYDESK_FAULT_TG_TOKEN": TOKEN}  # the token reaches the config through the env


def polling(tg: TelegramStandIn, **delivery: Any) -> dict[str, Any]:
    """`connectors:` for Telegram long polling against the stand-in, `delivery` over quick
    retries."""
    return {
        "telegram": {
            "enabled": True,
            "token": "${RELAYDESK_FAULT_TG_TOKEN}",
            "base_url": tg.base_url,
            "base_file_url": tg.base_file_url,
            "mode": "polling",
            "polling_timeout_seconds": 1,
            "delivery": {"first_backoff_seconds": 0.1, "max_backoff_seconds": 0.5, **delivery},
        }
    }


async def outbound(store: SqlStore, chat: int) -> list[MessageRecord]:
    """What the server has to send this chat: every stored message for the customer, in order."""
    customer = await store.customers.find("telegram", str(chat))
    if customer is None:
        return []
    return [
        m
        for m in await store.messages.of_customer(customer.id)
        if m.sender != "customer" and not m.payload.get("internal")
    ]


def texts_sent(tg: TelegramStandIn, chat: int) -> list[str]:
    return [str(c.params["text"]) for c in tg.sent(chat) if c.method == "sendMessage"]
