"""billing entities: finalize zero-amount invoices, which documents are e-mailed

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 05:00:00

Lago's `finalize_zero_amount_invoice` and `email_settings` on a billing entity. Both are
nullable: an entity without its own value follows the organization's.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("billing_entities") as batch_op:
        batch_op.add_column(sa.Column("finalize_zero_amount_invoice", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "email_settings",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_entities") as batch_op:
        batch_op.drop_column("email_settings")
        batch_op.drop_column("finalize_zero_amount_invoice")
