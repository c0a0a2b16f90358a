"""Customer profiles: the contact details and tags agents edit, the customers an import brings,
and the segments computed from the data (rules: bot/store/segments.py).

Every edit, by an agent or an import, is kept in `customer_changes` (who, which field, old and
new value), so a wrong phone number can be traced. Segments are computed for everyone in one
run (at start-up, every `customers.refresh_minutes`, after an import, on demand), which fixes
the value bands' spend thresholds; between runs one customer can be re-segmented against the
last run's thresholds, which is what opening their profile does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.store import models as m
from bot.store.engine import Database
from bot.store.errors import NotFoundError
from bot.store.models import new_id
from bot.store.records import CustomerRecord
from bot.store.segment_facts import all_facts, facts_of
from bot.store.segments import (
    AUTO_TAGS,
    SegmentRules,
    ValueBands,
    priority_boost,
    segment,
    value_bands,
)
from bot.store.tables import CUST, IDENT, customer_record, utc

PROFILE_FIELDS = ("name", "email", "phone", "region", "language")
MAX_TAGS = 20
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{4,30}$")
# Letters of any script (Chinese included), digits, _ and -, after spaces become _.
_TAG = re.compile(r"^[\w-]{1,40}$")
_LIMITS = {"name": 100, "email": 254, "phone": 32, "region": 100}


@dataclass(frozen=True)
class ChangeRecord:
    actor: str
    field: str
    old: str | None
    new: str | None
    at: datetime


@dataclass(frozen=True)
class SegmentSummary:
    """One run: when, over how many customers, the value thresholds, and the counts per
    segment ("lifecycle:new", "value:high", "tag:complaint_sensitive", ...)."""

    at: datetime
    customers: int
    high_min_cents: int | None
    mid_min_cents: int | None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportedCustomer:
    """One line of a customers import (bot/store/customer_import.py), already validated."""

    ref: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    region: str | None = None
    language: str | None = None
    since: datetime | None = None
    tags: tuple[str, ...] = ()
    identities: tuple[tuple[str, str], ...] = ()  # (channel, external id)


def clean_field(name: str, value: Any) -> str | None:
    """A profile field as stored: trimmed, checked; None (cleared) for an empty value.
    InputError names the field and says what is wrong."""
    if name not in PROFILE_FIELDS:
        raise InputError(f"unknown profile field {name!r}; editable: {', '.join(PROFILE_FIELDS)}")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{name}: must be a string")
    text = " ".join(value.split())
    if not text:
        return None
    if any(ord(c) < 32 for c in text):
        raise InputError(f"{name}: control characters are not allowed")
    if name == "language":
        if text not in ("zh", "en"):
            raise InputError(f"language: {text!r}; allowed: zh, en")
        return text
    if len(text) > _LIMITS[name]:
        raise InputError(f"{name}: longer than {_LIMITS[name]} characters")
    if name == "email":
        if not _EMAIL.match(text):
            raise InputError(f"email: {text!r} is not an e-mail address")
        local, domain = text.rsplit("@", 1)
        return f"{local}@{domain.lower()}"
    if name == "phone" and (not _PHONE.match(text) or sum(c.isdigit() for c in text) < 5):
        raise InputError(f"phone: {text!r} is not a phone number (digits, +, spaces, -, ())")
    return text


def clean_tag(tag: Any) -> str:
    """A tag as stored: lower case, spaces as _; InputError if it is no tag."""
    if not isinstance(tag, str):
        raise InputError("a tag must be a string")
    norm = "_".join(tag.strip().lower().split())
    if not _TAG.match(norm):
        raise InputError(f"tag {tag!r}: 1-40 letters, digits, _ or -")
    if norm in AUTO_TAGS:
        raise InputError(f"tag {norm!r} is computed from the data; it cannot be set by hand")
    return norm


class SqlProfiles:
    """Profiles, tags and segments over the store's database."""

    def __init__(self, db: Database, rules: SegmentRules | None = None) -> None:
        self.db = db
        # Set from config.yml's `customers:` by the composition root.
        self.rules = rules or SegmentRules()

    def priority_boost(self, customer: CustomerRecord) -> int:
        """How much higher this customer's handoff goes in the queue (segments.priority_boost)."""
        return priority_boost(
            customer.all_tags, customer.lifecycle, customer.value_segment, self.rules
        )

    # -- agents' edits ----------------------------------------------------------------------------
    async def edit(self, customer_id: str, actor: str, fields: Mapping[str, Any]) -> CustomerRecord:
        """Set profile fields (PROFILE_FIELDS; None or "" clears one), each change recorded."""
        values = {k: clean_field(k, v) for k, v in fields.items()}

        def work(s: Session) -> CustomerRecord:
            row = _customer(s, customer_id)
            for key, value in values.items():
                old = getattr(row, key)
                if old != value:
                    _record(s, customer_id, actor, key, old, value)
                    setattr(row, key, value)
            s.commit()
            return customer_record(row)

        return await self.db.run(work)

    async def change_tags(
        self, customer_id: str, actor: str, add: Iterable[Any] = (), remove: Iterable[Any] = ()
    ) -> CustomerRecord:
        """Add and remove agents' tags; removing one the customer lacks is no error."""
        adding = [clean_tag(t) for t in add]
        removing = {"_".join(str(t).strip().lower().split()) for t in remove}

        def work(s: Session) -> CustomerRecord:
            row = _customer(s, customer_id)
            old = list(row.tags or ())
            new = [t for t in old if t not in removing]
            new += [t for t in dict.fromkeys(adding) if t not in new]
            if len(new) > MAX_TAGS:
                raise InputError(f"at most {MAX_TAGS} tags per customer")
            if new != old:
                _record(s, customer_id, actor, "tags", ", ".join(old), ", ".join(new))
                row.tags = new
            s.commit()
            return customer_record(row)

        return await self.db.run(work)

    async def changes(self, customer_id: str, limit: int = 20) -> list[ChangeRecord]:
        """The newest changes to the profile first."""

        def work(s: Session) -> list[ChangeRecord]:
            c = m.CustomerChange
            rows = s.scalars(
                select(c)
                .where(c.customer_id == customer_id)
                .order_by(c.at.desc(), c.id.desc())
                .limit(limit)
            )
            return [ChangeRecord(r.actor, r.field, r.old, r.new, utc(r.at) or r.at) for r in rows]

        return await self.db.run(work)

    # -- imports ----------------------------------------------------------------------------------
    async def import_customers(
        self, rows: Sequence[ImportedCustomer], actor: str = "import"
    ) -> tuple[int, int]:
        """Create or update customers by their shop number, in one transaction: (created,
        updated). Empty cells leave a known customer's field as it is; tags are added to theirs;
        identities (channel, id) are attached, moved from whoever held them."""

        def work(s: Session) -> tuple[int, int]:
            created = updated = 0
            for r in rows:
                row = s.scalar(select(m.Customer).where(m.Customer.external_ref == r.ref))
                if row is None:
                    row = m.Customer(
                        id=new_id(), external_ref=r.ref, tags=[], attributes={},
                        created_at=clock.now(),
                    )  # fmt: skip
                    s.add(row)
                    created += 1
                    _record(s, row.id, actor, "external_ref", None, r.ref, flush=True)
                else:
                    updated += 1
                for key in PROFILE_FIELDS:
                    value = getattr(r, key)
                    if value is not None and getattr(row, key) != value:
                        _record(s, row.id, actor, key, getattr(row, key), value)
                        setattr(row, key, value)
                if r.since is not None:
                    row.customer_since = r.since
                tags = list(row.tags or ())
                more = [t for t in r.tags if t not in tags]
                if more:
                    row.tags = tags + more
                for channel, external_id in r.identities:
                    ident = s.scalar(
                        select(m.ChannelIdentity).where(
                            m.ChannelIdentity.channel == channel,
                            m.ChannelIdentity.external_id == external_id,
                        )
                    )
                    if ident is None:
                        s.add(
                            m.ChannelIdentity(
                                customer_id=row.id, channel=channel, external_id=external_id
                            )
                        )
                    else:
                        ident.customer_id = row.id
            s.commit()
            return created, updated

        return await self.db.run(work)

    # -- segments ---------------------------------------------------------------------------------
    async def recompute(self, now: datetime | None = None) -> SegmentSummary:
        """Segment every customer and record the run."""
        at = now or clock.now()
        rules = self.rules

        def work(s: Session) -> SegmentSummary:
            facts = all_facts(s, at, rules)
            bands = value_bands([f.yearly_spend_cents for f in facts], rules)
            stored = {
                row.id: (row.lifecycle, row.value_segment, tuple(row.auto_tags or ()),
                         row.yearly_spend_cents)
                for row in s.execute(
                    select(CUST.c.id, CUST.c.lifecycle, CUST.c.value_segment, CUST.c.auto_tags,
                           CUST.c.yearly_spend_cents)
                )
            }  # fmt: skip
            counts: dict[str, int] = {}
            params = []
            for f in facts:
                seg = segment(f, bands, at, rules)
                for key in (
                    f"lifecycle:{seg.lifecycle}",
                    f"value:{seg.value or 'none'}",
                    *(f"tag:{t}" for t in seg.auto_tags),
                ):
                    counts[key] = counts.get(key, 0) + 1
                now_is = (seg.lifecycle, seg.value, seg.auto_tags, f.yearly_spend_cents)
                if stored.get(f.customer_id) == now_is:
                    continue  # unchanged: an hourly run rewrites only what moved
                params.append(
                    {
                        "cid": f.customer_id,
                        "lifecycle": seg.lifecycle,
                        "value_segment": seg.value,
                        "auto_tags": list(seg.auto_tags),
                        "yearly_spend_cents": f.yearly_spend_cents,
                        "segments_at": at,
                    }
                )
            if params:
                s.execute(
                    update(CUST)
                    .where(CUST.c.id == bindparam("cid"))
                    .values(
                        lifecycle=bindparam("lifecycle"),
                        value_segment=bindparam("value_segment"),
                        auto_tags=bindparam("auto_tags"),
                        yearly_spend_cents=bindparam("yearly_spend_cents"),
                        segments_at=bindparam("segments_at"),
                    )
                    .execution_options(synchronize_session=False),
                    params,
                )
            s.execute(
                insert(m.SegmentRun).values(
                    at=at,
                    customers=len(facts),
                    high_min_cents=bands.high_min_cents,
                    mid_min_cents=bands.mid_min_cents,
                    counts=counts,
                )
            )
            s.commit()
            return SegmentSummary(
                at,
                len(facts),
                bands.high_min_cents,
                bands.mid_min_cents,
                dict(sorted(counts.items())),
            )

        return await self.db.run(work)

    async def refresh(self, customer_id: str, now: datetime | None = None) -> CustomerRecord:
        """Re-segment one customer against the last run's value thresholds."""
        at = now or clock.now()
        rules = self.rules

        def work(s: Session) -> CustomerRecord:
            row = _customer(s, customer_id)
            run = _last_run(s)
            bands = ValueBands(
                run.high_min_cents if run else None, run.mid_min_cents if run else None
            )
            f = facts_of(s, row, at, rules)
            seg = segment(f, bands, at, rules)
            was = (
                row.lifecycle,
                row.value_segment,
                tuple(row.auto_tags or ()),
                row.yearly_spend_cents,
            )
            if was != (seg.lifecycle, seg.value, seg.auto_tags, f.yearly_spend_cents):
                row.lifecycle, row.value_segment = seg.lifecycle, seg.value
                row.auto_tags, row.yearly_spend_cents = list(seg.auto_tags), f.yearly_spend_cents
                row.segments_at = at
                s.commit()  # only what moved: every profile view calls this
            return customer_record(row)

        return await self.db.run(work)

    async def summary(self) -> SegmentSummary | None:
        """The last run, or None before the first."""

        def work(s: Session) -> SegmentSummary | None:
            run = _last_run(s)
            if run is None:
                return None
            counts = {str(k): int(v) for k, v in (run.counts or {}).items()}
            return SegmentSummary(
                utc(run.at) or run.at,
                run.customers,
                run.high_min_cents,
                run.mid_min_cents,
                dict(sorted(counts.items())),
            )

        return await self.db.run(work)

    async def by_ref(self, ref: str) -> CustomerRecord:
        """The customer with this shop number; NotFoundError if none."""

        def work(s: Session) -> CustomerRecord:
            row = s.execute(select(CUST).where(CUST.c.external_ref == ref)).first()
            if row is None:
                raise NotFoundError(f"no customer with shop number {ref!r}")
            return customer_record(row)

        return await self.db.run(work)

    async def identities(self, customer_id: str) -> list[tuple[str, str]]:
        def work(s: Session) -> list[tuple[str, str]]:
            rows = s.execute(
                select(IDENT.c.channel, IDENT.c.external_id)
                .where(IDENT.c.customer_id == customer_id)
                .order_by(IDENT.c.channel, IDENT.c.external_id)
            )
            return [(str(c), str(e)) for c, e in rows]

        return await self.db.run(work)


def _customer(s: Session, customer_id: str) -> m.Customer:
    row = s.get(m.Customer, customer_id)
    if row is None:
        raise NotFoundError(f"no customer {customer_id!r}")
    return row


def _last_run(s: Session) -> m.SegmentRun | None:
    return s.scalar(select(m.SegmentRun).order_by(m.SegmentRun.id.desc()).limit(1))


def _record(
    s: Session,
    customer_id: str,
    actor: str,
    field_name: str,
    old: Any,
    new: Any,
    *,
    flush: bool = False,
) -> None:
    if flush:  # the customer row must exist before its first change refers to it
        s.flush()
    s.add(
        m.CustomerChange(
            customer_id=customer_id,
            actor=actor[:64],
            field=field_name,
            old=None if old is None else str(old),
            new=None if new is None else str(new),
            at=clock.now(),
        )
    )
