"""subscriptions: consolidate_invoice, one invoice per customer per billing boundary

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 13:00:00

A customer's subscriptions billed at the same boundary now share one invoice, each with
its own `invoice_subscriptions` key (the unique (subscription, boundary, reason) index
already allows several keys per invoice). Lago's `consolidate_invoice` on a subscription
opts it out: false bills it on its own invoice. Existing subscriptions consolidate, as
Lago's default does.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("consolidate_invoice", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("consolidate_invoice")
