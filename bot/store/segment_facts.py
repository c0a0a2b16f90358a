"""The facts segmentation reads (bot/store/segments.py), gathered with a handful of grouped
queries: one row per customer from each of conversations, orders and complaints, whatever the
number of customers, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from bot.store import models as m
from bot.store.segments import NOT_PURCHASES, CustomerFacts, SegmentRules
from bot.store.tables import CONV, CUST, MSG, utc


def all_facts(s: Session, now: datetime, rules: SegmentRules) -> list[CustomerFacts]:
    """Every customer's facts as of `now`."""
    return _facts(s, now, rules, None)


def facts_of(s: Session, row: m.Customer, now: datetime, rules: SegmentRules) -> CustomerFacts:
    """One customer's facts as of `now`."""
    return _facts(s, now, rules, row.id)[0]


def _facts(s: Session, now: datetime, rules: SegmentRules, only: str | None) -> list[CustomerFacts]:
    def narrow(q: Any, column: Any) -> Any:
        return q if only is None else q.where(column == only)

    active_cut = now - timedelta(days=rules.active_days)
    value_cut = now - timedelta(days=rules.value_days)
    complaint_cut = now - timedelta(days=rules.complaint_days)

    conv_rows = s.execute(
        narrow(
            select(
                CONV.c.customer_id,
                func.sum(case((CONV.c.created_at >= active_cut, 1), else_=0)),
                func.max(CONV.c.updated_at),
            ).group_by(CONV.c.customer_id),
            CONV.c.customer_id,
        )
    )
    talks = {cid: (int(n or 0), utc(last)) for cid, n, last in conv_rows}

    o = m.ShopOrder
    bought: ColumnElement[bool] = o.status.not_in(NOT_PURCHASES)
    order_rows = s.execute(
        narrow(
            select(
                o.customer_id,
                func.max(o.ordered_at),
                func.sum(case((o.ordered_at >= value_cut, o.amount_cents), else_=0)),
                func.sum(case((o.ordered_at >= active_cut, 1), else_=0)),
            )
            .where(o.customer_id.is_not(None), bought)
            .group_by(o.customer_id),
            o.customer_id,
        )
    )
    buys = {cid: (utc(last), int(spend or 0), int(n or 0)) for cid, last, spend, n in order_rows}

    complained: dict[str, set[str]] = defaultdict(set)
    h = m.Handoff
    handed = narrow(
        select(CONV.c.customer_id, CONV.c.id)
        .join(h, h.conversation_id == CONV.c.id)
        .where(h.reason == "complaint", h.queued_at >= complaint_cut),
        CONV.c.customer_id,
    )
    said = narrow(
        select(CONV.c.customer_id, CONV.c.id)
        .join(MSG, MSG.c.conversation_id == CONV.c.id)
        .where(
            and_(
                MSG.c.sender == "customer",
                MSG.c.created_at >= complaint_cut,
                MSG.c.parse[("intent", "name")].as_string() == "complaint",
            )
        ),
        CONV.c.customer_id,
    )
    for q in (handed, said):
        for cid, conv_id in s.execute(q.distinct()):
            complained[cid].add(conv_id)

    customers = s.execute(
        narrow(select(CUST.c.id, CUST.c.customer_since, CUST.c.created_at), CUST.c.id)
    )
    out = []
    for cid, since, created in customers:
        n_talks, last_talk = talks.get(cid, (0, None))
        last_buy, spend, n_buys = buys.get(cid, (None, 0, 0))
        last = max((t for t in (last_talk, last_buy) if t is not None), default=None)
        out.append(
            CustomerFacts(
                customer_id=cid,
                since=utc(since) or utc(created) or now,
                recent_interactions=n_talks + n_buys,
                last_interaction=last,
                last_purchase=last_buy,
                yearly_spend_cents=spend,
                complaints=len(complained.get(cid, ())),
            )
        )
    return out
