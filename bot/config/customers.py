"""config.yml's `customers` section: the thresholds of the segments (the playbook's by default:
new within 30 days, active with 2 interactions in 30, dormant after 90 quiet days, churned after
180 without a purchase; value bands of 20% / 50% / 30% of the year's spend), when a customer
counts as complaint-sensitive, how much each tag or segment raises a handoff in the queue, how
often the segments are recomputed, and how big an import may be.

    customers:
      priority_boosts: {high_value: 1, complaint_sensitive: 1, "lifecycle:new": 0}
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_LIFECYCLES = ("new", "active", "steady", "dormant", "churned")
_VALUES = ("high", "mid", "low")
_TAG = re.compile(r"^[\w-]{1,40}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomersSection(_Section):
    new_days: int = Field(30, ge=1, le=3650)
    active_days: int = Field(30, ge=1, le=3650)
    active_interactions: int = Field(2, ge=1, le=1000)
    dormant_days: int = Field(90, ge=1, le=3650)
    churned_days: int = Field(180, ge=1, le=3650)
    value_days: int = Field(365, ge=1, le=3650)
    top_share: float = Field(0.2, gt=0, lt=1)
    bottom_share: float = Field(0.3, gt=0, lt=1)
    complaint_days: int = Field(365, ge=1, le=3650)
    complaints_to_flag: int = Field(1, ge=1, le=100)
    # Added to a handoff's queue priority: a tag (agents' or computed) or "lifecycle:<name>" /
    # "value:<band>". The queue serves higher priorities first.
    priority_boosts: dict[str, int] = Field(
        default_factory=lambda: {"high_value": 1, "complaint_sensitive": 1}
    )
    # Every customer's segments are recomputed this often by a running server (0: only at
    # start-up, after imports and on demand).
    refresh_minutes: float = Field(60, ge=0, le=60 * 24 * 7)
    import_max_bytes: int = Field(20 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    import_max_rows: int = Field(200_000, ge=1, le=10_000_000)

    @field_validator("priority_boosts")
    @classmethod
    def _known_keys(cls, value: dict[str, int]) -> dict[str, int]:
        for key, boost in value.items():
            kind, _, name = key.partition(":")
            ok = (
                (kind == "lifecycle" and name in _LIFECYCLES)
                or (kind == "value" and name in _VALUES)
                or (not name and _TAG.match(key) is not None)
            )
            if not ok:
                raise ValueError(
                    f"{key!r}: a tag, lifecycle:<{'|'.join(_LIFECYCLES)}> "
                    f"or value:<{'|'.join(_VALUES)}>"
                )
            if not -10 <= boost <= 10:
                raise ValueError(f"{key!r}: a boost from -10 to 10")
        return value

    @model_validator(mode="after")
    def _bands_fit(self) -> CustomersSection:
        if self.top_share + self.bottom_share >= 1:
            raise ValueError("top_share + bottom_share must stay below 1 (the middle band)")
        return self
