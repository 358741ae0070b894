"""subscriptions: termination_alerted_at

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 16:50:00

Lago warns of a scheduled termination (`subscription.termination_alert`) 45 and 15 days
ahead. The instant of the last warning makes each one sent once, however often the
billing clock runs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import meterly.store.types

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "termination_alerted_at",
                meterly.store.types.AwareDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("termination_alerted_at")
