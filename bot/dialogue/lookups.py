"""The facts a reply quotes about the customer's order or ticket, looked up by the numbers
the customer gave, in the words of the customer's language.

The policy (bot/dialogue/policy.py) decides whether to tell them; these fill the reply's
template values (`status_text`, `tracking_text`, ...).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.dialogue.orders import Order, OrderLookup, OrderLookupUnavailable
from bot.store.errors import NotFoundError
from bot.store.tickets import Tickets

ORDER_STATUS_TEXT = {
    "zh": {
        "paid": "已付款，待发货",
        "shipped": "已发货",
        "delivered": "已签收",
        "cancelled": "已取消",
    },
    "en": {
        "paid": "paid, waiting to ship",
        "shipped": "shipped",
        "delivered": "delivered",
        "cancelled": "cancelled",
    },
}

# Couriers as Chinese customers know them (the order system stores the English names).
COURIER_ZH = {
    "SF Express": "顺丰速运",
    "JD Logistics": "京东物流",
    "EMS": "中国邮政 EMS",
    "YTO Express": "圆通速递",
    "ZTO Express": "中通快递",
    "STO Express": "申通快递",
    "Yunda Express": "韵达快递",
    "DHL": "DHL",
}

# A ticket's status in the customer's words, never the code the console uses.
TICKET_STATUS_TEXT = {
    "zh": {
        "new": "已受理，等待处理",
        "assigned": "已分配给客服",
        "in_progress": "处理中",
        "waiting_customer": "等待您的回复",
        "resolved": "已解决",
        "closed": "已关闭",
    },
    "en": {
        "new": "received, waiting for an agent",
        "assigned": "assigned to an agent",
        "in_progress": "being worked on",
        "waiting_customer": "waiting for your reply",
        "resolved": "resolved",
        "closed": "closed",
    },
}

log = logging.getLogger(__name__)


async def order_facts(orders: OrderLookup, order_id: str, language: str) -> dict[str, Any] | None:
    """The order's items, status and tracking as a reply tells them; None when unknown;
    `{"unavailable": True}` when the order system cannot say (the reply asks to try later)."""
    try:
        found = await orders.find(order_id)
    except OrderLookupUnavailable as exc:
        log.warning("order look-up of %s failed: %s", order_id, exc)
        return {"order_id": order_id, "unavailable": True}
    if found is None:
        return None
    labels = ORDER_STATUS_TEXT["en" if language == "en" else "zh"]
    return {
        "order_id": found.order_id,
        "items": found.items,
        "status": found.status,  # read by the policy (a settled order an upset customer disputes)
        "status_text": labels.get(found.status, found.status),
        "tracking_text": tracking_text(found, language),
    }


async def ticket_facts(
    tickets: Tickets, said: str, language: str
) -> tuple[str, dict[str, Any] | None]:
    """The ticket number as the customer meant it ("t 12" -> "T-12"), and the ticket's state
    as a reply tells it; None when there is no such ticket."""
    number = said.upper().replace(" ", "-")
    if not number.startswith("T-"):
        number = "T-" + number[1:].lstrip("-")
    try:
        t = await tickets.get(number)
    except NotFoundError:
        return number, None
    return number, {
        "number": t.number,
        "subject": t.subject,
        "status_text": TICKET_STATUS_TEXT["en" if language == "en" else "zh"].get(
            t.status, t.status
        ),
        "updated": t.updated_at.strftime("%Y-%m-%d %H:%M"),
    }


def tracking_text(order: Order, language: str) -> str:
    """Who carries the order and when it arrives, or when a paid order ships; "" if unknown."""
    if order.tracking:
        if language == "en":
            return f"{order.courier} tracking number {order.tracking}, expected {order.eta}."
        courier = COURIER_ZH.get(order.courier or "", order.courier)
        return f"{courier}运单号 {order.tracking}，预计 {order.eta} 送达。"
    if order.eta and order.status == "paid":
        return (
            f"Expected to ship by {order.eta}."
            if language == "en"
            else f"预计 {order.eta} 前发货。"
        )
    return ""
