"""pay in advance keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 01:58:34.070686
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("fees", schema=None) as batch_op:
        batch_op.create_index(
            "uq_fees_advance_event",
            ["subscription_id", "charge_id", "event_transaction_id"],
            unique=True,
            sqlite_where=sa.text("event_transaction_id IS NOT NULL"),
            postgresql_where=sa.text("event_transaction_id IS NOT NULL"),
        )

    with op.batch_alter_table("invoice_subscriptions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_invoice_subscriptions_subscription_id_boundary_invoicing_reason"),
            type_="unique",
        )
        batch_op.create_index(
            "uq_invoice_subscriptions_period",
            ["subscription_id", "boundary", "invoicing_reason"],
            unique=True,
            sqlite_where=sa.text("invoicing_reason <> 'in_advance_charge'"),
            postgresql_where=sa.text("invoicing_reason <> 'in_advance_charge'"),
        )


def downgrade() -> None:

    with op.batch_alter_table("invoice_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_invoice_subscriptions_period",
            sqlite_where=sa.text("invoicing_reason <> 'in_advance_charge'"),
            postgresql_where=sa.text("invoicing_reason <> 'in_advance_charge'"),
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_invoice_subscriptions_subscription_id_boundary_invoicing_reason"),
            ["subscription_id", "boundary", "invoicing_reason"],
        )

    with op.batch_alter_table("fees", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_fees_advance_event",
            sqlite_where=sa.text("event_transaction_id IS NOT NULL"),
            postgresql_where=sa.text("event_transaction_id IS NOT NULL"),
        )
