"""signing keys

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 03:10:21.309058
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import meterly.store.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "signing_keys",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_signing_keys")),
    )


def downgrade() -> None:

    op.drop_table("signing_keys")
