"""config.yml's `tickets` section: the service levels a ticket is worked against (first response,
resolution, the longer resolution of a cross-department case), when an unresolved ticket goes
from tier 1 to tier 2, which resolutions are followed up with the customer, and how often the
sweeper looks. Every level can be set per skill group (`groups`), since a complaints team and a
sales team do not promise the same.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TicketLevels(_Section):
    """One skill group's levels; unset keys take the section's own."""

    first_response_hours: float | None = Field(None, gt=0, le=24 * 30)
    resolution_hours: float | None = Field(None, gt=0, le=24 * 90)
    cross_department_resolution_hours: float | None = Field(None, gt=0, le=24 * 90)
    escalate_after_minutes: float | None = Field(None, gt=0, le=60 * 24 * 30)


class TicketsSection(_Section):
    # Service standard: the first answer on a ticket within 2 hours, resolved within 24 (48
    # when another department must act). The bot's promise to the customer (handoff.
    # ticket_follow_up_hours, counted in service hours) wins when it is set on the ticket.
    first_response_hours: float = Field(2.0, gt=0, le=24 * 30)
    resolution_hours: float = Field(24.0, gt=0, le=24 * 90)
    cross_department_resolution_hours: float = Field(48.0, gt=0, le=24 * 90)
    # A ticket still unresolved this long after it was opened goes to tier 2, and the
    # supervisors are told.
    escalate_after_minutes: float = Field(10.0, gt=0, le=60 * 24 * 30)
    # Resolutions in these skill groups are followed up: solved? fast enough? suggestions?
    follow_up_groups: list[str] = Field(default_factory=lambda: ["after_sales"])
    follow_up_after_minutes: float = Field(0.0, ge=0, le=60 * 24 * 30)  # 0: at resolution
    # A follow-up link answers for this long; afterwards the page says it expired.
    follow_up_valid_days: float = Field(14.0, gt=0, le=365)
    # Resolved tickets close on their own after this many days (0: only by hand).
    close_resolved_after_days: float = Field(7.0, ge=0, le=365)
    sweep_interval_seconds: float = Field(30.0, gt=0, le=3600)
    # The address customers reach this server at (https://support.example.com), for the
    # follow-up link in messages to channels that are not the web widget. Unset: the link is
    # relative to this server, which only the widget can open.
    public_url: str | None = None
    groups: dict[str, TicketLevels] = Field(default_factory=dict)

    @field_validator("public_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// or http://")
        return value.rstrip("/")

    def unknown_groups(self, skill_groups: set[str]) -> list[str]:
        """Keys naming skill groups that do not exist (checked against `handoff`)."""
        named = [f"groups.{g}" for g in self.groups if g not in skill_groups]
        named += [f"follow_up_groups: {g}" for g in self.follow_up_groups if g not in skill_groups]
        return named

    def _level(self, group: str | None, key: str) -> float:
        own = self.groups.get(group or "")
        value = getattr(own, key) if own is not None else None
        return float(value if value is not None else getattr(self, key))

    def first_response(self, group: str | None) -> timedelta:
        return timedelta(hours=self._level(group, "first_response_hours"))

    def resolution(self, group: str | None, cross_department: bool = False) -> timedelta:
        key = "cross_department_resolution_hours" if cross_department else "resolution_hours"
        return timedelta(hours=self._level(group, key))

    def escalate_after(self, group: str | None) -> timedelta:
        return timedelta(minutes=self._level(group, "escalate_after_minutes"))
