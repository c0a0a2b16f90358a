"""web customers' page context (page, browser, referrer, signed-in identity)

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_contexts",
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("page_url", sa.String(length=500), nullable=True),
        sa.Column("page_title", sa.String(length=500), nullable=True),
        sa.Column("referrer", sa.String(length=500), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("browser", sa.String(length=80), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("screen", sa.String(length=32), nullable=True),
        sa.Column("identity", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id"),
    )


def downgrade() -> None:
    op.drop_table("web_contexts")
