"""media: files that came with or went out with a message; the bytes live on disk by SHA-256

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=True),
        sa.Column("channel_file_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_media_direction"),
        sa.CheckConstraint(
            "kind IN ('image', 'file', 'voice', 'video', 'sticker')", name="ck_media_kind"
        ),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_media_conversation_id", "media", ["conversation_id"])
    op.create_index("ix_media_message_id", "media", ["message_id"])
    op.create_index("ix_media_sha256", "media", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_media_sha256", table_name="media")
    op.drop_index("ix_media_message_id", table_name="media")
    op.drop_index("ix_media_conversation_id", table_name="media")
    op.drop_table("media")
