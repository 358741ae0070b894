"""fees: no foreign keys on the organization and customer ids they copy

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 05:00:00

A fee's `organization_id` and `customer_id` are copies, kept so fees are listed without a
join; what they name is already held by the fee's own keys: its subscription or its
invoice, whose rows reference that customer and organization. Their two checks were
two of the five a fee insert paid, row by row, on the PostgreSQL primary that every
billing worker shares: a billing run's server time fell by a fifth without them
(`bench.billing_fanout`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fees") as batch_op:
        batch_op.drop_constraint("fk_fees_organization_id_organizations", type_="foreignkey")
        batch_op.drop_constraint("fk_fees_customer_id_customers", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("fees") as batch_op:
        batch_op.create_foreign_key(
            "fk_fees_customer_id_customers", "customers", ["customer_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_fees_organization_id_organizations", "organizations", ["organization_id"], ["id"]
        )
