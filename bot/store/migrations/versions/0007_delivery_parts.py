"""delivery parts: a long outbound message goes out as several parts, each recorded

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_parts",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["deliveries.message_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id", "part"),
    )


def downgrade() -> None:
    op.drop_table("delivery_parts")
