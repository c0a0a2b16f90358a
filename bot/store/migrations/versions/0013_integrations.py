"""the shop's systems: outgoing webhooks' events, their delivery ledger, the feed's cursor and
the indexes it reads by

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# What the webhook feed reads by time (handoffs.queued_at has ix_handoffs_status_queued).
FEED_INDEXES = (
    ("ix_conversations_created_at", "conversations", "created_at"),
    ("ix_conversations_closed_at", "conversations", "closed_at"),
    ("ix_handoffs_assigned_at", "handoffs", "assigned_at"),
    ("ix_handoffs_resolved_at", "handoffs", "resolved_at"),
    ("ix_ticket_events_at", "ticket_events", "at"),
    ("ix_ratings_created_at", "ratings", "created_at"),
)


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name="ck_webhook_delivery_status"
        ),
        sa.ForeignKeyConstraint(["event_id"], ["webhook_events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "endpoint"),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "due_at"], unique=False
    )
    op.create_table(
        "webhook_cursors",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("scanned_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    for name, table, column in FEED_INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in reversed(FEED_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("webhook_cursors")
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
