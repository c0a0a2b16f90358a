"""proactive contact: customer events, the proactive ledger, opt-outs

`customer_events` holds what the shop's systems and the widget said about a customer, unique
per (source, event id); `proactive_messages` one row per (rule, customer, trigger event) with
its status, reason and outcome; `proactive_opt_outs` the customers who asked for none.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


_WAITING = {
    "ix_proactive_messages_undelivered": "delivered_at",
    "ix_proactive_messages_unreplied": "replied_at",
}


def upgrade() -> None:
    op.create_table(
        "customer_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "event_id", name="uq_customer_events_source_event"),
    )
    op.create_index(
        "ix_customer_events_customer", "customer_events", ["customer_id", "occurred_at"]
    )
    op.create_table(
        "proactive_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=60), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("trigger_event_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("deferrals", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('scheduled', 'sent', 'suppressed', 'cancelled')",
            name="ck_proactive_message_status",
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["trigger_event_id"], ["customer_events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "rule", "customer_id", "trigger_event_id", name="uq_proactive_messages_trigger"
        ),
    )
    op.create_index("ix_proactive_messages_due", "proactive_messages", ["status", "due_at"])
    op.create_index(
        "ix_proactive_messages_customer_sent", "proactive_messages", ["customer_id", "sent_at"]
    )
    op.create_index("ix_proactive_messages_decided", "proactive_messages", ["decided_at"])
    op.create_index("ix_proactive_messages_conversation", "proactive_messages", ["conversation_id"])
    # The sent rows still waiting for an outcome, oldest first: what the scheduler follows up
    # every round (store.proactive_outcomes.awaiting). Partial, so they stay as small as the
    # backlog.
    for name, column in _WAITING.items():
        op.create_index(
            name,
            "proactive_messages",
            ["sent_at", "id"],
            postgresql_where=sa.text(f"status = 'sent' AND {column} IS NULL"),
            sqlite_where=sa.text(f"status = 'sent' AND {column} IS NULL"),
        )
    op.create_table(
        "proactive_opt_outs",
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("how", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id"),
    )


def downgrade() -> None:
    op.drop_table("proactive_opt_outs")
    for name in _WAITING:
        op.drop_index(name, table_name="proactive_messages")
    op.drop_index("ix_proactive_messages_conversation", table_name="proactive_messages")
    op.drop_index("ix_proactive_messages_decided", table_name="proactive_messages")
    op.drop_index("ix_proactive_messages_customer_sent", table_name="proactive_messages")
    op.drop_index("ix_proactive_messages_due", table_name="proactive_messages")
    op.drop_table("proactive_messages")
    op.drop_index("ix_customer_events_customer", table_name="customer_events")
    op.drop_table("customer_events")
