"""unfinished turns: a customer message stored but never answered (its process died mid-turn)
is found by an index, and its recovery attempts are counted

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UNFINISHED = "sender = 'customer' AND parse IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("turn_attempts", sa.Integer(), nullable=False, server_default="0")
        )
    # Until now a missing parse was stored as JSON null; from now on it is SQL NULL, which the
    # partial index below can see. Only customer messages of open conversations matter: those
    # are the turns a sweeper may still finish.
    is_json_null = (
        "parse::text = 'null'" if op.get_bind().dialect.name == "postgresql" else "parse = 'null'"
    )
    op.execute(
        f"UPDATE messages SET parse = NULL WHERE sender = 'customer' AND {is_json_null} "
        "AND conversation_id IN (SELECT id FROM conversations "
        "WHERE status IN ('bot', 'queued', 'assigned'))"
    )
    op.create_index(
        "ix_messages_unfinished",
        "messages",
        ["created_at"],
        postgresql_where=sa.text(UNFINISHED),
        sqlite_where=sa.text(UNFINISHED),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unfinished", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("turn_attempts")
