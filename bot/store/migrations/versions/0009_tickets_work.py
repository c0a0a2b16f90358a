"""tickets worked in the console: assignment, SLA timers, tiers, progress updates, follow-ups

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("tickets") as t:
        t.add_column(sa.Column("assigned_to", sa.String(length=32), nullable=True))
        t.add_column(sa.Column("tier", sa.Integer(), nullable=False, server_default="1"))
        t.add_column(
            sa.Column("cross_department", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        for name in (
            "first_response_due_at",
            "first_response_at",
            "resolution_due_at",
            "resolved_at",
            "closed_at",
            "escalated_at",
        ):
            t.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        t.create_foreign_key("fk_tickets_assigned_to", "agents", ["assigned_to"], ["id"])
        t.create_index("ix_tickets_status_group", ["status", "skill_group"])
        t.create_index("ix_tickets_assigned_to", ["assigned_to"])
    with op.batch_alter_table("ticket_events") as e:
        e.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="status")
        )
        e.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        e.create_foreign_key(
            "fk_ticket_events_message_id", "messages", ["message_id"], ["id"], ondelete="SET NULL"
        )
        e.create_index("ix_ticket_events_ticket_id", ["ticket_id"])
    op.create_table(
        "ticket_follow_ups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("solved", sa.Boolean(), nullable=True),
        sa.Column("fast_enough", sa.Boolean(), nullable=True),
        sa.Column("suggestions", sa.Text(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", name="uq_ticket_follow_ups_ticket"),
        sa.UniqueConstraint("token_hash", name="uq_ticket_follow_ups_token"),
    )
    op.create_index("ix_ticket_follow_ups_due", "ticket_follow_ups", ["sent_at", "due_at"])
    op.create_table(
        "ticket_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agent_id", "ticket_id", "kind", name="uq_ticket_alerts_once"),
    )
    op.create_index("ix_ticket_alerts_agent", "ticket_alerts", ["agent_id", "read_at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_alerts_agent", table_name="ticket_alerts")
    op.drop_table("ticket_alerts")
    op.drop_index("ix_ticket_follow_ups_due", table_name="ticket_follow_ups")
    op.drop_table("ticket_follow_ups")
    with op.batch_alter_table("ticket_events") as e:
        e.drop_index("ix_ticket_events_ticket_id")
        e.drop_constraint("fk_ticket_events_message_id", type_="foreignkey")
        e.drop_column("message_id")
        e.drop_column("kind")
    with op.batch_alter_table("tickets") as t:
        t.drop_index("ix_tickets_assigned_to")
        t.drop_index("ix_tickets_status_group")
        t.drop_constraint("fk_tickets_assigned_to", type_="foreignkey")
        for name in (
            "escalated_at",
            "closed_at",
            "resolved_at",
            "resolution_due_at",
            "first_response_at",
            "first_response_due_at",
            "cross_department",
            "tier",
            "assigned_to",
        ):
            t.drop_column(name)
