"""Customer segments and automatic tags, computed from what the store knows: when the customer
came, how often they talk to us, what they bought in the last year, and whether they complained.

The rules are the service playbook's (section 3.1), with the ambiguities decided here:

    lifecycle  new      first seen (at the shop, else by us) within `new_days` (30)
               active   >= `active_interactions` (2) interactions within `active_days` (30);
                        an interaction is a conversation started or an order placed
               churned  has bought before, but nothing within `churned_days` (180)
               dormant  no interaction within `dormant_days` (90)
               steady   none of these
    (checked in this order: the first that holds wins)

    value      high / mid / low: the top `top_share` (20%) / the next / the bottom
               `bottom_share` (30%) of the customers who bought in the last
               `value_days` (365) days, by what they spent (cancelled and refunded orders do
               not count; ties go to the higher band). A customer who bought before but not in
               the year is "low"; one who never bought has no value segment.

    auto tags  high_value           value segment "high"
               complaint_sensitive  >= `complaints_to_flag` (1) complaints within
                                    `complaint_days` (365): conversations handed over as a
                                    complaint, or where the customer's words were read as one

This module is the rules, pure; bot/store/profiles.py gathers the facts and stores the results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.config.customers import CustomersSection

LIFECYCLES = ("new", "active", "steady", "dormant", "churned")
VALUE_SEGMENTS = ("high", "mid", "low")
AUTO_TAGS = ("high_value", "complaint_sensitive")
# Orders that are not a purchase, for spend and for "bought before".
NOT_PURCHASES = ("cancelled", "refunded")


@dataclass(frozen=True)
class SegmentRules:
    """The thresholds (config.yml `customers:`); the defaults are the playbook's."""

    new_days: int = 30
    active_days: int = 30
    active_interactions: int = 2
    dormant_days: int = 90
    churned_days: int = 180
    value_days: int = 365
    top_share: float = 0.2
    bottom_share: float = 0.3
    complaint_days: int = 365
    complaints_to_flag: int = 1
    # Added to a handoff's queue priority when the customer carries the tag or is in the
    # segment ("high_value", "complaint_sensitive", "lifecycle:new", "value:high", ...).
    priority_boosts: Mapping[str, int] = field(
        default_factory=lambda: {"high_value": 1, "complaint_sensitive": 1}
    )


@dataclass(frozen=True)
class CustomerFacts:
    """What the rules read about one customer, as of `now`."""

    customer_id: str
    since: datetime  # first seen at the shop, else by us
    recent_interactions: int  # within rules.active_days
    last_interaction: datetime | None
    last_purchase: datetime | None  # None: never bought
    yearly_spend_cents: int  # within rules.value_days
    complaints: int  # within rules.complaint_days


@dataclass(frozen=True)
class ValueBands:
    """The spend a customer needs for the high and the mid band in one run; None: no buyers."""

    high_min_cents: int | None
    mid_min_cents: int | None


@dataclass(frozen=True)
class Segments:
    lifecycle: str
    value: str | None
    auto_tags: tuple[str, ...]


def lifecycle(f: CustomerFacts, now: datetime, rules: SegmentRules) -> str:
    if f.since >= now - timedelta(days=rules.new_days):
        return "new"
    if f.recent_interactions >= rules.active_interactions:
        return "active"
    if f.last_purchase is not None and f.last_purchase < now - timedelta(days=rules.churned_days):
        return "churned"
    if f.last_interaction is None or f.last_interaction < now - timedelta(days=rules.dormant_days):
        return "dormant"
    return "steady"


def value_bands(spends: Sequence[int], rules: SegmentRules) -> ValueBands:
    """The band thresholds over the year's spends of every customer (zeros are ignored)."""
    ranked = sorted((s for s in spends if s > 0), reverse=True)
    n = len(ranked)
    if n == 0:
        return ValueBands(None, None)
    # round() first: 0.7 * 10 is 7.000000000000001 in floating point.
    top = max(1, math.ceil(round(rules.top_share * n, 9)))
    upper = max(top, math.ceil(round((1 - rules.bottom_share) * n, 9)))
    return ValueBands(ranked[top - 1], ranked[min(upper, n) - 1])


def value_segment(f: CustomerFacts, bands: ValueBands) -> str | None:
    if f.last_purchase is None:
        return None
    spend = f.yearly_spend_cents
    if spend <= 0 or bands.high_min_cents is None or bands.mid_min_cents is None:
        return "low"
    if spend >= bands.high_min_cents:
        return "high"
    return "mid" if spend >= bands.mid_min_cents else "low"


def segment(f: CustomerFacts, bands: ValueBands, now: datetime, rules: SegmentRules) -> Segments:
    value = value_segment(f, bands)
    tags = []
    if value == "high":
        tags.append("high_value")
    if f.complaints >= rules.complaints_to_flag:
        tags.append("complaint_sensitive")
    return Segments(lifecycle(f, now, rules), value, tuple(tags))


def priority_boost(
    tags: Sequence[str], lifecycle: str | None, value: str | None, rules: SegmentRules
) -> int:
    """How much higher in the queue this customer goes: the sum of the boosts that apply."""
    keys = {*tags}
    if lifecycle:
        keys.add(f"lifecycle:{lifecycle}")
    if value:
        keys.add(f"value:{value}")
    return sum(boost for key, boost in rules.priority_boosts.items() if key in keys)


def rules_from(section: CustomersSection) -> SegmentRules:
    """The rules config.yml's `customers:` sets."""
    return SegmentRules(
        new_days=section.new_days,
        active_days=section.active_days,
        active_interactions=section.active_interactions,
        dormant_days=section.dormant_days,
        churned_days=section.churned_days,
        value_days=section.value_days,
        top_share=section.top_share,
        bottom_share=section.bottom_share,
        complaint_days=section.complaint_days,
        complaints_to_flag=section.complaints_to_flag,
        priority_boosts=dict(section.priority_boosts),
    )
