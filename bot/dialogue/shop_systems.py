"""The shop's systems as the dialogue uses them, built from `integrations` in config.yml: where
orders are looked up, and which intents run custom actions on the action server.

The composition root (bot/server/context.py) calls these once at start-up; a bad rules file
fails there, naming the file and the rule, rather than at the first customer who asks.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import Config
from bot.dialogue.actions import ActionServerClient, CustomActions
from bot.dialogue.actions_rules import load_rules
from bot.dialogue.orders import (
    ImportedFirstLookup,
    ImportedOrders,
    OrderLookup,
    SqliteOrderLookup,
)
from bot.dialogue.orders_http import HttpOrderLookup
from bot.dialogue.responses import Responses


def build_order_lookup(config: Config, imported: ImportedOrders | None = None) -> OrderLookup:
    """The shop's order API when `integrations.orders.source` is http (it is the shop's truth:
    imported copies are not consulted); else the imported orders, then the sample file."""
    orders = config.integrations.orders
    if orders.source == "http":
        return HttpOrderLookup(orders)
    sample = SqliteOrderLookup(Path(config.path(config.dialogue.orders_db)))
    return sample if imported is None else ImportedFirstLookup(imported, sample)


def build_custom_actions(config: Config, responses: Responses) -> CustomActions | None:
    """The rules naming custom actions and the action server's client; None when no rules."""
    actions = config.integrations.actions
    if not actions.rules:
        return None
    rules = load_rules(config.path(actions.rules), set(responses.templates))
    return CustomActions(rules, ActionServerClient(actions), responses)


async def close_shop_systems(orders: OrderLookup, actions: CustomActions | None) -> None:
    """End the HTTP sessions the look-ups and actions hold."""
    if isinstance(orders, HttpOrderLookup):
        await orders.close()
    if actions is not None:
        await actions.close()
