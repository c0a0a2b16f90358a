"""read marks (delivered/read per conversation and side)

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "read_marks",
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("reader", sa.String(length=16), nullable=False),
        sa.Column("received_up_to", sa.Integer(), nullable=True),
        sa.Column("read_up_to", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("reader IN ('customer', 'agent')", name="ck_read_mark_reader"),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id", "reader"),
    )


def downgrade() -> None:
    op.drop_table("read_marks")
