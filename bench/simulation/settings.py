"""The simulated month's fixed world: who comes, when, on which channel, about what, and who
works; the settings a run takes and the summary it prints."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import InputError

LANGUAGES = ("zh", "en")
CHANNELS = ("web", "wechat", "telegram", "rest")
# Channel shares by language: Chinese customers mostly come through WeChat and the web widget,
# English ones through the widget and Telegram; "rest" is the shop's app, through the REST API.
CHANNEL_WEIGHTS = {"zh": (36, 48, 3, 13), "en": (50, 8, 27, 15)}
# Arrivals per local hour: quiet at night, busy mornings, a peak in the evening.
HOUR_WEIGHTS = (
    *(0.8, 0.4, 0.2, 0.1, 0.1, 0.2, 0.5, 1.2),  # 00-07
    *(2.2, 3.5, 4.5, 4.5, 3.8, 4.0, 4.5, 4.5),  # 08-15
    *(4.3, 4.0, 4.2, 5.5, 6.5, 6.0, 4.5, 2.2),  # 16-23
)
WEEKDAY_WEIGHTS = (1.1, 1.05, 1.05, 1.05, 1.1, 0.85, 0.8)  # Monday first
# Shopping festivals: Singles' Day (11-11) and 618.
FESTIVALS = {(11, 11): 2.0, (11, 12): 1.5, (6, 18): 1.8}
PEAK_HOURS = frozenset({10, 11, 19, 20})
SCENARIOS = {
    "question": 36,  # a knowledge question or two
    "order": 16,  # where is my order
    "human": 12,  # asks for a person
    "complaint": 8,
    "lost": 8,  # the bot does not understand them (three failed turns)
    "unanswerable": 7,  # a question no article answers
    "angry": 6,
    "smalltalk": 7,
}
THINK_S = (10.0, 90.0)  # a customer's pause between lines
OUTBOX_TICK_S = 3.0  # how often the stand-in outbox worker sends what is due
OVERTIME_H = 0.5  # after their shift agents still take what was queued before it ended
RETURN_DAYS = 7
# username, display name, languages, shift (early | late | middle), role, preferred skills
ROSTER: tuple[tuple[str, str, tuple[str, ...], str, str, tuple[str, ...]], ...] = (
    ("li.na", "李娜", ("zh",), "early", "agent", ("pre_sales", "after_sales")),
    ("zhang.min", "张敏", ("zh", "en"), "early", "agent", ("tech_support", "billing")),
    ("emily.zhou", "Emily Zhou", ("en", "zh"), "early", "agent", ("pre_sales", "complaints")),
    ("wang.lei", "王磊", ("zh",), "late", "agent", ("after_sales", "billing")),
    ("chen.jie", "陈杰", ("zh",), "late", "agent", ("complaints", "after_sales")),
    ("liu.yang", "刘洋", ("zh",), "late", "agent", ("pre_sales", "tech_support")),
    ("david.lin", "David Lin", ("en",), "late", "agent", ("billing", "tech_support")),
    ("zhao.qian", "赵倩", ("zh", "en"), "middle", "supervisor", ()),
)
# The shop's events (shop.py), per customer after their first visit, and how customers take the
# proactive messages they bring.
SHOP: dict[str, Any] = {
    "tick_s": 900.0,  # the proactive scheduler's round, in simulated seconds
    "dwell_read_s": 20.0,  # a lingering visitor reads the widget's "need help?"
    "chances": {
        "page_dwell": 0.35,  # of web visits: minutes on a product page first
        "cart_abandoned": 0.18,
        "paid_before_reminder": 0.2,  # the cart bought within the day: the reminder expires
        "another_cart": 0.3,  # a keen shopper leaves a second cart: cool-down, caps
        "payment_failed": 0.08,
        "any_order": 0.15,  # besides the "where is my order" visits
        "shipment_delayed": 0.3,
        "delivered": 0.6,
        "repurchase_due": 0.06,
    },
    "replayed": 0.03,  # the shop posts an event twice: stored once
    # Who answers a proactive message (in the same conversation), by rule.
    "replies": {
        "dwell_help": 0.45,
        "cart_reminder": 0.2,
        "payment_failed": 0.45,
        "shipment_delayed": 0.3,
        "delivery_survey": 0.35,
        "repurchase_reminder": 0.15,
    },
    "opt_out": 0.05,  # of the answers: "退订" / "stop"
    "converts": {"cart_reminder": 0.25, "payment_failed": 0.5},  # then pay (order_paid)
    "payment_reasons": {
        "zh": [
            ("银行卡余额不足", "可以换一张卡或使用支付宝重新支付。"),
            ("支付超时", "订单保留 24 小时，请在“我的订单”中重新支付。"),
            ("银行风控拦截", "请联系发卡行确认后再试，或换用微信支付。"),
        ],
        "en": [
            ("the card was declined", "Try another card or pay with Alipay."),
            ("the payment timed out", "The order is kept for 24 hours: pay again under My orders."),
        ],
    },
}
SHOP_PRODUCTS = {
    "zh": ["无线蓝牙耳机", "保温杯", "羽绒服", "空气炸锅", "运动鞋", "电动牙刷"],
    "en": ["wireless earbuds", "a travel mug", "a down jacket", "an air fryer", "running shoes"],
}
WECHAT_WINDOW = timedelta(hours=48)
CJK = re.compile(r"[\u3400-\u9fff]")
ORDER_ID = re.compile(r"#?\b20\d{10}\b")
TICKET = re.compile(r"\bT-?\d+\b", re.I)


@dataclass(frozen=True)
class SimulationSettings:
    month: str  # YYYY-MM
    conversations: int = 3000
    seed: int = 1
    days: int | None = None  # only the month's first N days (quick runs, tests)
    append: bool = False  # write into a database that has conversations already


@dataclass
class SimulationSummary:
    month: str
    database: str
    start: datetime
    end: datetime
    conversations: set[str] = field(default_factory=set)
    visits: int = 0
    returns: int = 0
    customer_turns: int = 0
    bot_replies: int = 0
    agent_messages: int = 0
    handoffs: int = 0  # escalations by the engine, plus transfers
    claimed: int = 0
    resolved: int = 0
    transferred: int = 0
    back_to_bot: int = 0
    tickets: int = 0
    ratings: int = 0
    rated_with_comment: int = 0
    rating_total: int = 0
    left_unresolved: int = 0  # bot-only visits that ended without a goodbye
    channels: Counter[str] = field(default_factory=Counter)  # per conversation
    languages: Counter[str] = field(default_factory=Counter)  # per conversation
    reasons: Counter[str] = field(default_factory=Counter)
    shop_events: Counter[str] = field(default_factory=Counter)  # by type, and "replayed"
    # The proactive scheduler's outcomes (sent, suppressed:cap, rescheduled:quiet_hours, ...),
    # delivered, replied, converted, and the customers who opted out.
    proactive: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        n = len(self.conversations)
        avg = self.rating_total / self.ratings if self.ratings else 0.0
        per_turn = 1000 * self.elapsed_s / max(self.customer_turns, 1)
        return [
            f"simulated {self.month}: {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} "
            f"({self.start.tzinfo}) into {self.database}",
            f"  conversations {n} from {self.visits} visits ({self.returns} came back), "
            f"customer turns {self.customer_turns}, bot replies {self.bot_replies}",
            "  channels: " + ", ".join(f"{c} {k}" for c, k in self.channels.most_common()),
            "  languages: " + ", ".join(f"{c} {k}" for c, k in self.languages.most_common()),
            f"  handoffs {self.handoffs} ("
            + ", ".join(f"{r} {k}" for r, k in self.reasons.most_common())
            + f"); claimed {self.claimed}, resolved {self.resolved}, transferred "
            f"{self.transferred}, back to bot {self.back_to_bot}; tickets {self.tickets}",
            f"  agent messages {self.agent_messages}; ratings {self.ratings} "
            f"({self.rated_with_comment} with a comment, average {avg:.2f}); "
            f"bot-only visits left unresolved {self.left_unresolved}",
            "  shop events: "
            + (", ".join(f"{k} {n}" for k, n in sorted(self.shop_events.items())) or "none"),
            "  proactive: "
            + (", ".join(f"{k} {n}" for k, n in sorted(self.proactive.items())) or "none"),
            f"  elapsed {self.elapsed_s:.1f} s ({per_turn:.1f} ms per customer turn)",
        ]


def month_window(month: str, tz: ZoneInfo, days: int | None = None) -> tuple[datetime, int]:
    """The month's first local midnight and how many days to simulate."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InputError(f"month {month!r}: expected YYYY-MM, e.g. 2026-11")
    year, mon = int(match.group(1)), int(match.group(2))
    following = date(year + mon // 12, mon % 12 + 1, 1)
    length = (following - date(year, mon, 1)).days
    if days is not None and not 1 <= days <= length:
        raise InputError(f"days: 1 to {length} for {month}")
    return datetime(year, mon, 1, tzinfo=tz), days or length


def default_database(month: str) -> str:
    return f"sqlite:///var/simulated-{month}.db"
