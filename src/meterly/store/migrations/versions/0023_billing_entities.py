"""billing entities; invoices.billing_entity_code

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 17:10:00

Several legal sellers per organization (Lago's billing entities). The organization stays
the default seller; an entity's customers are invoiced, numbered and taxed by it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_entities",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("default_currency", sa.String(length=3), nullable=False),
        sa.Column("document_numbering", sa.String(length=32), nullable=False),
        sa.Column("document_number_prefix", sa.String(length=16), nullable=False),
        sa.Column("eu_tax_management", sa.Boolean(), nullable=False),
        sa.Column(
            "profile",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_billing_entities_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_entities")),
        sa.UniqueConstraint(
            "organization_id", "code", name=op.f("uq_billing_entities_organization_id_code")
        ),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("billing_entity_code", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("billing_entity_code")
    op.drop_table("billing_entities")
