"""organizations: einvoicing, e-invoices (Factur-X, ZUGFeRD, XRechnung, UBL) for documents

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 17:10:00

Lago's `einvoicing` setting of the seller: when on, finalized invoices and credit notes
also come as structured XML (issue 16 point 4). Off for existing organizations.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("einvoicing", sa.Boolean(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("einvoicing")
