"""documents: seller/buyer snapshots at issue time, invoice custom sections

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 17:10:00

Invoices and credit notes keep the seller and buyer blocks (and the custom sections)
as they stood when issued, so documents rendered later never pick up a newer address.
Invoice custom sections (Lago's API) and each customer's own selection of them.
Existing issued documents have no snapshot: they render from the current data, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _instant(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    for table in ("invoices", "credit_notes"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("document_snapshot", _json(), nullable=True))
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "skip_invoice_custom_sections",
                sa.Boolean(),
                nullable=False,
                server_default="0",
            )
        )
    op.create_table(
        "invoice_custom_sections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("applied_to_organization", sa.Boolean(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_invoice_custom_sections_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_custom_sections")),
        sa.UniqueConstraint(
            "organization_id", "code", name=op.f("uq_invoice_custom_sections_organization_id_code")
        ),
    )
    op.create_table(
        "customer_invoice_custom_sections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_custom_section_id", sa.String(length=36), nullable=False),
        _instant("created_at"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_invoice_custom_sections_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_custom_section_id"],
            ["invoice_custom_sections.id"],
            name=op.f(
                "fk_customer_invoice_custom_sections_invoice_custom_section_id_invoice_custom_sections"
            ),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_invoice_custom_sections")),
        sa.UniqueConstraint(
            "customer_id",
            "invoice_custom_section_id",
            name=op.f("uq_customer_invoice_custom_sections_customer_id_invoice_custom_section_id"),
        ),
    )
    with op.batch_alter_table("customer_invoice_custom_sections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_invoice_custom_sections_customer_id"),
            ["customer_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_customer_invoice_custom_sections_invoice_custom_section_id"),
            ["invoice_custom_section_id"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("customer_invoice_custom_sections")
    op.drop_table("invoice_custom_sections")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("skip_invoice_custom_sections")
    for table in ("invoices", "credit_notes"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("document_snapshot")
