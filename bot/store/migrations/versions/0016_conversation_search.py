"""full-text search of past conversations (jieba tokens)

The terms of each message (bot/store/search_terms.py) in an FTS5 table on SQLite, or a
`tsvector` ('simple' configuration) with a GIN index on PostgreSQL, and the indexer's cursor
(bot/store/conversation_search.py). Messages already stored are indexed by the first run.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    cursors = op.create_table(
        "search_cursors",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(cursors, [{"name": "messages", "last_id": 0, "updated_at": None}])
    if op.get_bind().dialect.name == "sqlite":
        # rowid = messages.id; unicode61 splits the pre-tokenized terms on their spaces only.
        op.execute(
            "CREATE VIRTUAL TABLE message_search USING fts5("
            "terms, tokenize = 'unicode61 remove_diacritics 0')"
        )
    else:
        op.execute(
            "CREATE TABLE message_search ("
            " message_id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,"
            " terms TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_message_search_terms ON message_search USING gin (terms)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS message_search")
    op.drop_table("search_cursors")
