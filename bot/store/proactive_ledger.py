"""The proactive ledger: every message the bot considered sending on its own.

One row per (rule, customer, trigger event), unique, so a trigger seen twice (a replayed event,
two schedulers reading the same cursor) schedules one message. A row starts `scheduled` with its
`due_at`; a scheduler claims due rows with a lease (one conditional update per row, so two
instances never hold, and never send, the same row; a claimer that dies leaves the row due again
when the lease ends), then ends it `sent`, `suppressed` or `cancelled` with the reason, or moves
it to later (`reschedule`, quiet hours: not final). A sent row then collects `delivered_at`,
`replied_at` and `converted_at` (bot/store/proactive_outcomes.py), which the dashboard counts
(`stats`, with the opt-outs of bot/store/opt_outs.py).

Every end is a conditional update from `scheduled`, so an outcome is recorded once: a second
`mark_sent` of the same row answers False and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from bot import clock
from bot.errors import InputError
from bot.store import models as m
from bot.store.engine import Database
from bot.store.opt_outs import OPT
from bot.store.tables import upsert, utc

PRO = cast(Table, m.ProactiveMessage.__table__)
EVT = cast(Table, m.CustomerEvent.__table__)

STATUSES = ("scheduled", "sent", "suppressed", "cancelled")
# Why a message was suppressed or cancelled; quiet_hours only ever re-schedules.
REASONS = (
    "cap",
    "quiet_hours",
    "opt_out",
    "cooldown",
    "duplicate",
    "expired",
    "conditions",
    "unreachable",
)
MAX_RULE = 60
DEFAULT_LEASE_S = 60.0


@dataclass(frozen=True)
class ProactiveRecord:
    """One ledger row."""

    id: int
    rule: str
    customer_id: str
    trigger_event_id: int
    status: str  # scheduled | sent | suppressed | cancelled
    reason: str | None
    due_at: datetime
    attempts: int  # claims so far
    deferrals: int  # times moved past quiet hours
    decided_at: datetime | None
    sent_at: datetime | None
    message_id: int | None
    conversation_id: str | None
    channel: str | None
    delivered_at: datetime | None
    replied_at: datetime | None
    converted_at: datetime | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out


def ledger_record(row: Any) -> ProactiveRecord:
    return ProactiveRecord(
        id=row.id,
        rule=row.rule,
        customer_id=row.customer_id,
        trigger_event_id=row.trigger_event_id,
        status=row.status,
        reason=row.reason,
        due_at=utc(row.due_at) or row.due_at,
        attempts=row.attempts,
        deferrals=row.deferrals,
        decided_at=utc(row.decided_at),
        sent_at=utc(row.sent_at),
        message_id=row.message_id,
        conversation_id=row.conversation_id,
        channel=row.channel,
        delivered_at=utc(row.delivered_at),
        replied_at=utc(row.replied_at),
        converted_at=utc(row.converted_at),
        created_at=utc(row.created_at) or row.created_at,
    )


def _reason(reason: str) -> str:
    if reason not in REASONS:
        raise InputError(f"unknown proactive reason {reason!r}; one of {', '.join(REASONS)}")
    return reason


class ProactiveLedger:
    """`store.proactive`: schedule, claim and settle proactive messages; look-ups; figures."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- scheduling and claiming -----------------------------------------------------------
    async def schedule(
        self, rule: str, customer_id: str, trigger_event_id: int, due_at: datetime
    ) -> tuple[ProactiveRecord, bool]:
        """A row for the rule's message to the customer about this trigger, due at `due_at`;
        (the row, True) when new, (the existing row, False) when already scheduled (whatever
        became of it since)."""
        if not rule or len(rule) > MAX_RULE:
            raise InputError(f"rule name must be 1 to {MAX_RULE} characters")
        if due_at.tzinfo is None:
            raise InputError("due_at has no time zone")

        def work(s: Session) -> tuple[ProactiveRecord, bool]:
            new = s.execute(
                upsert(s, PRO)
                .values(
                    rule=rule,
                    customer_id=customer_id,
                    trigger_event_id=trigger_event_id,
                    status="scheduled",
                    due_at=due_at,
                    attempts=0,
                    deferrals=0,
                    created_at=clock.now(),
                )
                .on_conflict_do_nothing(index_elements=["rule", "customer_id", "trigger_event_id"])
                .returning(PRO.c.id)
            ).scalar_one_or_none()
            row = s.execute(
                select(PRO).where(
                    PRO.c.rule == rule,
                    PRO.c.customer_id == customer_id,
                    PRO.c.trigger_event_id == trigger_event_id,
                )
            ).one()
            s.commit()
            return ledger_record(row), new is not None

        return await self.db.run(work)

    async def due(
        self, now: datetime | None = None, limit: int = 100, *, lease_s: float = DEFAULT_LEASE_S
    ) -> list[ProactiveRecord]:
        """Scheduled rows due by `now` (default: the clock's now), oldest first, each claimed
        for `lease_s` by a conditional update: a row another instance claimed meanwhile is left
        out, so no two claimers ever hold the same row. A claimer that neither settles nor
        re-schedules a row sees it due again when the lease ends."""
        at = now or clock.now()

        def work(s: Session) -> list[ProactiveRecord]:
            query = (
                select(PRO.c.id, PRO.c.attempts)
                .where(
                    PRO.c.status == "scheduled",
                    PRO.c.due_at <= at,
                    or_(PRO.c.lease_until.is_(None), PRO.c.lease_until <= at),
                )
                .order_by(PRO.c.due_at, PRO.c.id)
                .limit(limit)
            )
            if s.get_bind().dialect.name == "postgresql":
                # Claimers running at once take different rows instead of queueing on the same
                # ones (the conditional update below is what guarantees one holder).
                query = query.with_for_update(skip_locked=True)
            rows = s.execute(query).all()
            claimed: list[int] = []
            for row in rows:
                got = s.execute(
                    update(PRO)
                    .where(
                        PRO.c.id == row.id,
                        PRO.c.status == "scheduled",
                        PRO.c.attempts == row.attempts,
                    )
                    .values(
                        attempts=row.attempts + 1,
                        lease_until=at + timedelta(seconds=lease_s),
                    )
                ).rowcount  # type: ignore[attr-defined]
                if got:
                    claimed.append(row.id)
            s.commit()
            if not claimed:
                return []
            out = s.execute(
                select(PRO).where(PRO.c.id.in_(claimed)).order_by(PRO.c.due_at, PRO.c.id)
            )
            return [ledger_record(r) for r in out]

        return await self.db.run(work)

    async def get(self, ledger_id: int) -> ProactiveRecord | None:
        def work(s: Session) -> ProactiveRecord | None:
            row = s.execute(select(PRO).where(PRO.c.id == ledger_id)).first()
            return ledger_record(row) if row is not None else None

        return await self.db.run(work)

    # -- settling ----------------------------------------------------------------------------
    async def mark_sent(
        self,
        ledger_id: int,
        *,
        message_id: int | None,
        conversation_id: str | None,
        channel: str,
        at: datetime | None = None,
    ) -> bool:
        """The message went out (appended to `conversation_id` as `message_id` on `channel`);
        False when the row was no longer scheduled (settled by someone else)."""
        when = at or clock.now()
        return await self._settle(
            ledger_id,
            status="sent",
            reason=None,
            sent_at=when,
            decided_at=when,
            message_id=message_id,
            conversation_id=conversation_id,
            channel=channel,
        )

    async def suppress(self, ledger_id: int, reason: str, *, at: datetime | None = None) -> bool:
        """Not sent, for good, for `reason` (cap, opt_out, cooldown, duplicate, expired,
        conditions, unreachable); False when the row was no longer scheduled."""
        return await self._settle(
            ledger_id, status="suppressed", reason=_reason(reason), decided_at=at or clock.now()
        )

    async def cancel(self, ledger_id: int, reason: str, *, at: datetime | None = None) -> bool:
        """Called off (expired, or made moot by a later event: `expired`); False when the row
        was no longer scheduled."""
        return await self._settle(
            ledger_id, status="cancelled", reason=_reason(reason), decided_at=at or clock.now()
        )

    async def reschedule(
        self, ledger_id: int, due_at: datetime, reason: str = "quiet_hours"
    ) -> bool:
        """Due again at `due_at` (quiet hours: after they end), the lease released; the reason
        is noted and the deferral counted. False when the row was no longer scheduled."""
        if due_at.tzinfo is None:
            raise InputError("due_at has no time zone")
        _reason(reason)

        def work(s: Session) -> bool:
            done = s.execute(
                update(PRO)
                .where(PRO.c.id == ledger_id, PRO.c.status == "scheduled")
                .values(
                    due_at=due_at,
                    lease_until=None,
                    reason=reason,
                    deferrals=PRO.c.deferrals + 1,
                )
            ).rowcount  # type: ignore[attr-defined]
            s.commit()
            return bool(done)

        return await self.db.run(work)

    async def _settle(self, ledger_id: int, **values: Any) -> bool:
        def work(s: Session) -> bool:
            done = s.execute(
                update(PRO)
                .where(PRO.c.id == ledger_id, PRO.c.status == "scheduled")
                .values(lease_until=None, **values)
            ).rowcount  # type: ignore[attr-defined]
            s.commit()
            return bool(done)

        return await self.db.run(work)

    # -- look-ups for the scheduler -----------------------------------------------------------
    async def sent_since(self, customer_id: str, since: datetime) -> int:
        """How many proactive messages (any rule) went to the customer since `since`: caps."""

        def work(s: Session) -> int:
            return int(
                s.execute(
                    select(func.count()).where(
                        PRO.c.customer_id == customer_id,
                        PRO.c.status == "sent",
                        PRO.c.sent_at >= since,
                    )
                ).scalar_one()
            )

        return await self.db.run(work)

    async def sent_times(self, customer_id: str, since: datetime) -> tuple[datetime, ...]:
        """When each proactive message to the customer since `since` went out, oldest first
        (D4's CustomerFacts.sent_times)."""

        def work(s: Session) -> tuple[datetime, ...]:
            rows = s.execute(
                select(PRO.c.sent_at)
                .where(
                    PRO.c.customer_id == customer_id,
                    PRO.c.status == "sent",
                    PRO.c.sent_at >= since,
                )
                .order_by(PRO.c.sent_at)
            )
            return tuple(utc(t) or t for (t,) in rows)

        return await self.db.run(work)

    async def last_sent(self, rule: str, customer_id: str) -> datetime | None:
        """When the rule last sent to the customer (cool-down), None if never."""

        def work(s: Session) -> datetime | None:
            at = s.execute(
                select(func.max(PRO.c.sent_at)).where(
                    PRO.c.customer_id == customer_id, PRO.c.rule == rule, PRO.c.status == "sent"
                )
            ).scalar()
            return utc(at)

        return await self.db.run(work)

    async def last_sent_by_rule(self, customer_id: str) -> dict[str, datetime]:
        """When each rule last sent to the customer (D4's CustomerFacts.last_sent_by_rule)."""

        def work(s: Session) -> dict[str, datetime]:
            rows = s.execute(
                select(PRO.c.rule, func.max(PRO.c.sent_at))
                .where(PRO.c.customer_id == customer_id, PRO.c.status == "sent")
                .group_by(PRO.c.rule)
            )
            return {str(rule): utc(at) or at for rule, at in rows if at is not None}

        return await self.db.run(work)

    async def by_message(self, message_id: int) -> ProactiveRecord | None:
        """The row whose message this is, None if it is no proactive message."""

        def work(s: Session) -> ProactiveRecord | None:
            row = s.execute(select(PRO).where(PRO.c.message_id == message_id)).first()
            return ledger_record(row) if row is not None else None

        return await self.db.run(work)

    async def resume_point(self, settle: timedelta) -> int:
        """Where a new scheduler starts reading events: the newest event received `settle`
        before the newest one a row was scheduled for (0: none). Whoever scheduled that event
        had taken every event committed by then; an older id that committed later did so
        within `settle` of it, so it is read again (scheduling twice is harmless: unique)."""

        def work(s: Session) -> int:
            newest = s.execute(select(func.max(PRO.c.trigger_event_id))).scalar()
            if newest is None:
                return 0
            received = s.execute(select(EVT.c.received_at).where(EVT.c.id == newest)).scalar()
            if received is None:  # the event was erased since
                return int(newest)
            before = s.execute(
                select(func.max(EVT.c.id)).where(EVT.c.received_at < received - settle)
            ).scalar()
            return int(before or 0)

        return await self.db.run(work)

    async def of_customer(self, customer_id: str, limit: int = 50) -> list[ProactiveRecord]:
        """The customer's rows, newest first."""

        def work(s: Session) -> list[ProactiveRecord]:
            rows = s.execute(
                select(PRO)
                .where(PRO.c.customer_id == customer_id)
                .order_by(PRO.c.id.desc())
                .limit(limit)
            )
            return [ledger_record(r) for r in rows]

        return await self.db.run(work)

    # -- figures -------------------------------------------------------------------------------
    async def stats(self, since: datetime, until: datetime) -> dict[str, Any]:
        """The dashboard's figures for [since, until), as a cohort: `sent` counts the messages
        sent in the window, and `delivered`, `replied`, `converted` those of THEM that were.
        `suppressed` counts final rows (suppressed or cancelled) decided in the window, by
        reason, plus `quiet_hours`: the postponements of rows due in the window (not final, so
        not in `suppressed_total`). `participation_rate` is replied / delivered (None when
        nothing was delivered); `conversion_rate` converted / sent (None when nothing was)."""

        def work(s: Session) -> dict[str, Any]:
            in_window = and_(PRO.c.sent_at >= since, PRO.c.sent_at < until)
            sent = s.execute(
                select(
                    func.count(),
                    func.count(PRO.c.delivered_at),
                    func.count(PRO.c.replied_at),
                    func.count(PRO.c.converted_at),
                ).where(PRO.c.status == "sent", in_window)
            ).one()
            by_rule = {
                str(rule): int(n)
                for rule, n in s.execute(
                    select(PRO.c.rule, func.count())
                    .where(PRO.c.status == "sent", in_window)
                    .group_by(PRO.c.rule)
                )
            }
            ended: dict[str, dict[str, int]] = {"suppressed": {}, "cancelled": {}}
            for status, reason, n in s.execute(
                select(PRO.c.status, PRO.c.reason, func.count())
                .where(
                    PRO.c.status.in_(("suppressed", "cancelled")),
                    PRO.c.decided_at >= since,
                    PRO.c.decided_at < until,
                )
                .group_by(PRO.c.status, PRO.c.reason)
            ):
                ended[str(status)][str(reason)] = int(n)
            deferred = int(
                s.execute(
                    select(func.coalesce(func.sum(PRO.c.deferrals), 0)).where(
                        PRO.c.due_at >= since, PRO.c.due_at < until
                    )
                ).scalar_one()
            )
            scheduled = s.execute(
                select(func.count()).where(PRO.c.status == "scheduled")
            ).scalar_one()
            opt_outs = s.execute(
                select(func.count()).where(OPT.c.at >= since, OPT.c.at < until)
            ).scalar_one()
            n_sent, delivered, replied, converted = (int(x) for x in sent)
            final: dict[str, int] = {}
            for kind in ended.values():
                for reason, n in kind.items():
                    final[reason] = final.get(reason, 0) + n
            suppressed = dict(final)
            if deferred:
                suppressed["quiet_hours"] = suppressed.get("quiet_hours", 0) + deferred
            return {
                "sent": n_sent,
                "sent_by_rule": dict(sorted(by_rule.items())),
                "delivered": delivered,
                "replied": replied,
                "converted": converted,
                "suppressed": dict(sorted(suppressed.items())),
                "suppressed_total": sum(final.values()),
                "cancelled": dict(sorted(ended["cancelled"].items())),
                "deferred_quiet_hours": deferred,
                "scheduled_now": int(scheduled),
                "opt_outs": int(opt_outs),
                "participation_rate": round(replied / delivered, 4) if delivered else None,
                "conversion_rate": round(converted / n_sent, 4) if n_sent else None,
            }

        return await self.db.run(work)


__all__ = ["REASONS", "STATUSES", "ProactiveLedger", "ProactiveRecord"]
