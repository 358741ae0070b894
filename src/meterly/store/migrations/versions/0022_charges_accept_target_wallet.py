"""charges: accepts_target_wallet

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 16:55:00

Lago's events targeting wallets: on a charge that accepts it, an event's
`properties.target_wallet_code` names the wallet that pays its fee; the charge's fees are
split per wallet.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("accepts_target_wallet", sa.Boolean(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_column("accepts_target_wallet")
