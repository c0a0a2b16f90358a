"""What the store knows about one customer, gathered for `decide` (bot/proactive/decide.py).

Read once per due ledger row, right before the decision, so a cap counts the messages sent a
moment ago by another instance, and an opt-out a second old is honoured. Nothing here decides.

- value band and segments: the computed profile (bot/store/segments.py), as "lifecycle:<name>"
  and "value:<band>" (a rule's `conditions.segments` names them either way: "active" works too);
- tags: the agents' tags and the computed ones (high_value, complaint_sensitive, ...);
- language: the customer's, else their newest conversation's, else the section's default "zh";
- channels: where the customer is known (their identities: web, telegram, wechat, ...);
- time zone: the profile attribute `timezone`, else the widget's page context, else None
  (`decide` then uses `quiet_hours.default_timezone`);
- opted out: the opt-outs (bot/store/opt_outs.py);
- the proactive messages sent in the cap window: the proactive ledger.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config.proactive import ProactiveSection
from bot.proactive.decide import CustomerFacts
from bot.store.sql_store import SqlStore

# Identities that are not a channel a message can be shown on.
_NOT_CHANNELS = frozenset({"shop", "web_user"})


async def gather(
    store: SqlStore, customer_id: str, rule: str, now: datetime, section: ProactiveSection
) -> CustomerFacts:
    """The facts `decide` needs for `rule`'s message to `customer_id` at `now`.
    NotFoundError when the customer is gone."""
    customer = await store.customers.get(customer_id)
    segments: set[str] = set()
    if customer.lifecycle:
        segments |= {customer.lifecycle, f"lifecycle:{customer.lifecycle}"}
    if customer.value_segment:
        segments |= {customer.value_segment, f"value:{customer.value_segment}"}
    language = customer.language
    if language not in ("zh", "en"):
        convs = await store.conversations.of_customer(customer_id)
        newest = max(convs, key=lambda c: c.created_at, default=None)
        language = newest.language if newest is not None and newest.language else "zh"
    identities = await store.profiles.identities(customer_id)
    channels = frozenset(ch for ch, _ in identities if ch not in _NOT_CHANNELS)
    timezone = customer.attributes.get("timezone")
    if not isinstance(timezone, str) or not timezone:
        page = await store.web_context.latest(customer_id)
        timezone = page.timezone if page is not None and page.timezone else None
    window = timedelta(days=section.caps.window_days)
    ledger = store.proactive
    sent = await ledger.sent_times(customer_id, now - window)
    last = await ledger.last_sent(rule, customer_id)
    return CustomerFacts(
        customer_id=customer_id,
        value_band=customer.value_segment,
        segments=frozenset(segments),
        tags=frozenset(customer.all_tags),
        language=language if language in ("zh", "en") else "zh",
        channels=channels,
        timezone=timezone,
        opted_out=await store.opt_outs.is_opted_out(customer_id),
        sent_times=tuple(sorted(sent)),
        last_sent_by_rule={rule: last} if last is not None else {},
    )
