"""knowledge review: drafts and articles in review, decisions, who contributed what

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("article_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('contributed', 'revised', 'edited', 'submitted', 'approved', 'rejected',"
            " 'discarded')",
            name="ck_knowledge_event_action",
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_knowledge_events_article_id", "knowledge_events", ["article_id"])
    op.create_index("ix_knowledge_events_created_at", "knowledge_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_knowledge_events_created_at", table_name="knowledge_events")
    op.drop_index("ix_knowledge_events_article_id", table_name="knowledge_events")
    op.drop_table("knowledge_events")
