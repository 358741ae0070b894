"""organizations: allow_private_webhook_urls

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 17:25:00

Webhook endpoint URLs on loopback, link-local and private addresses are refused unless
the organization allows them (issue 20, point 11: server-side request forgery).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "allow_private_webhook_urls",
                sa.Boolean(),
                nullable=False,
                server_default="0",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("allow_private_webhook_urls")
