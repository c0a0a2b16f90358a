"""customer profiles: contact details, tags, segments, the shop's orders

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Added to `customers`: the profile agents edit and imports fill, and the computed segments.
_CUSTOMER_COLUMNS = (
    ("email", sa.String(length=254)),
    ("phone", sa.String(length=32)),
    ("region", sa.String(length=100)),
    ("external_ref", sa.String(length=64)),
    ("customer_since", sa.DateTime(timezone=True)),
    ("lifecycle", sa.String(length=16)),
    ("value_segment", sa.String(length=8)),
    ("auto_tags", sa.JSON()),
    ("yearly_spend_cents", sa.BigInteger()),
    ("segments_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    # Plain ADD COLUMNs and a unique index, not batch mode: rebuilding `customers` on SQLite
    # would drop the table its conversations cascade from.
    for name, type_ in _CUSTOMER_COLUMNS:
        op.add_column("customers", sa.Column(name, type_, nullable=True))
    op.create_index("uq_customers_external_ref", "customers", ["external_ref"], unique=True)
    op.create_index("ix_customers_lifecycle", "customers", ["lifecycle"])
    op.create_index("ix_customers_value_segment", "customers", ["value_segment"])

    op.create_table(
        "shop_orders",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("customer_ref", sa.String(length=64), nullable=False),
        sa.Column("items", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("courier", sa.String(length=64), nullable=True),
        sa.Column("tracking", sa.String(length=64), nullable=True),
        sa.Column("eta", sa.String(length=32), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_index("ix_shop_orders_customer_ordered", "shop_orders", ["customer_id", "ordered_at"])
    op.create_index("ix_shop_orders_customer_ref", "shop_orders", ["customer_ref"])

    op.create_table(
        "customer_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("old", sa.Text(), nullable=True),
        sa.Column("new", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_customer_changes_customer_id", "customer_changes", ["customer_id"])

    op.create_table(
        "segment_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("high_min_cents", sa.BigInteger(), nullable=True),
        sa.Column("mid_min_cents", sa.BigInteger(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("segment_runs")
    op.drop_index("ix_customer_changes_customer_id", table_name="customer_changes")
    op.drop_table("customer_changes")
    op.drop_index("ix_shop_orders_customer_ref", table_name="shop_orders")
    op.drop_index("ix_shop_orders_customer_ordered", table_name="shop_orders")
    op.drop_table("shop_orders")
    op.drop_index("ix_customers_value_segment", table_name="customers")
    op.drop_index("ix_customers_lifecycle", table_name="customers")
    op.drop_index("uq_customers_external_ref", table_name="customers")
    for name, _ in reversed(_CUSTOMER_COLUMNS):
        op.drop_column("customers", name)  # SQLite 3.35+ drops columns in place
