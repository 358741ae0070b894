"""billing entities: net payment term, invoice grace period, timezone, e-invoicing

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 01:40:00

An entity's own billing settings (Lago's billing entity fields). The three numbers and
the timezone are nullable: an entity without its own value takes the organization's, and
a customer's own value wins over both.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("billing_entities") as batch_op:
        batch_op.add_column(sa.Column("net_payment_term", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("invoice_grace_period", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("einvoicing", sa.Boolean(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_entities") as batch_op:
        batch_op.drop_column("einvoicing")
        batch_op.drop_column("timezone")
        batch_op.drop_column("invoice_grace_period")
        batch_op.drop_column("net_payment_term")
