"""customers: sequential ids from a counter row, unique per organization

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 12:40:00

Customers used to get `max(sequential_id) + 1`, read without a lock: customers created
concurrently could share an id, and then their invoice numbers (built from it) collided.
Customers now take their id from the `document_sequences` counter (scope "customers"),
and a unique index makes a repeat impossible.

Before the index can exist, ids already shared are repaired: in each group the customer
created first keeps the id, the others get new ids after the organization's highest (and
the slug that shows it). Their invoices could not have been numbered (the numbers
collided), so no issued document changes. The counter then starts at each organization's
highest id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    _renumber_shared_ids(bind)
    bind.execute(
        sa.text(
            "INSERT INTO document_sequences (organization_id, scope, last_value)"
            " SELECT organization_id, 'customers', MAX(sequential_id) FROM customers"
            " GROUP BY organization_id"
        )
    )
    op.create_index(
        "uq_customers_sequential_id",
        "customers",
        ["organization_id", "sequential_id"],
        unique=True,
    )


def _renumber_shared_ids(bind: sa.Connection) -> None:
    shared = bind.execute(
        sa.text(
            "SELECT organization_id, sequential_id FROM customers"
            " GROUP BY organization_id, sequential_id HAVING COUNT(*) > 1"
        )
    ).all()
    highest: dict[str, int] = {}
    for organization_id, sequential_id in shared:
        if organization_id not in highest:
            highest[organization_id] = bind.execute(
                sa.text("SELECT MAX(sequential_id) FROM customers WHERE organization_id = :org"),
                {"org": organization_id},
            ).scalar_one()
        prefix = bind.execute(
            sa.text("SELECT document_number_prefix FROM organizations WHERE id = :org"),
            {"org": organization_id},
        ).scalar_one()
        later = bind.execute(
            sa.text(
                "SELECT id FROM customers WHERE organization_id = :org AND sequential_id = :n"
                " ORDER BY created_at, id"
            ),
            {"org": organization_id, "n": sequential_id},
        ).scalars()
        for customer_id in list(later)[1:]:
            highest[organization_id] += 1
            n = highest[organization_id]
            bind.execute(
                sa.text("UPDATE customers SET sequential_id = :n, slug = :slug WHERE id = :id"),
                {"n": n, "slug": f"{prefix}-{n:03d}", "id": customer_id},
            )


def downgrade() -> None:
    op.drop_index("uq_customers_sequential_id", table_name="customers")
    op.execute("DELETE FROM document_sequences WHERE scope = 'customers'")
