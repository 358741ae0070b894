"""coupons, applied coupons, coupon credits and add-ons

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
NOT_DELETED = sa.text("deleted_at IS NULL")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=nullable)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
    )


def upgrade() -> None:
    op.create_table(
        "add_ons",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("invoice_display_name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_currency", sa.String(length=3), nullable=False),
        sa.Column("tax_codes", JSON, nullable=False),
        _at("created_at"),
        _at("updated_at"),
        _at("deleted_at", nullable=True),
        _org_fk("add_ons"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_add_ons")),
    )
    with op.batch_alter_table("add_ons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_add_ons_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "uq_add_ons_code",
            ["organization_id", "code"],
            unique=True,
            sqlite_where=NOT_DELETED,
            postgresql_where=NOT_DELETED,
        )

    op.create_table(
        "coupons",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("coupon_type", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("amount_currency", sa.String(length=3), nullable=True),
        sa.Column("percentage_rate", meterly.store.types.ExactDecimal(), nullable=True),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("frequency_duration", sa.Integer(), nullable=True),
        sa.Column("expiration", sa.String(length=16), nullable=False),
        _at("expiration_at", nullable=True),
        sa.Column("reusable", sa.Boolean(), nullable=False),
        sa.Column("plan_codes", JSON, nullable=False),
        sa.Column("billable_metric_codes", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("terminated_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("deleted_at", nullable=True),
        _org_fk("coupons"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
    )
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupons_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "uq_coupons_code",
            ["organization_id", "code"],
            unique=True,
            sqlite_where=NOT_DELETED,
            postgresql_where=NOT_DELETED,
        )

    op.create_table(
        "applied_coupons",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("coupon_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("amount_currency", sa.String(length=3), nullable=True),
        sa.Column("percentage_rate", meterly.store.types.ExactDecimal(), nullable=True),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("frequency_duration", sa.Integer(), nullable=True),
        sa.Column("frequency_duration_remaining", sa.Integer(), nullable=True),
        sa.Column("amount_cents_remaining", sa.BigInteger(), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("terminated_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_applied_coupons_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_applied_coupons_customer_id_customers"),
        ),
        _org_fk("applied_coupons"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applied_coupons")),
    )
    with op.batch_alter_table("applied_coupons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_applied_coupons_coupon_id"), ["coupon_id"], unique=False
        )
        batch_op.create_index(
            "ix_applied_coupons_customer", ["customer_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_applied_coupons_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "coupon_credits",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("applied_coupon_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_currency", sa.String(length=3), nullable=False),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["applied_coupon_id"],
            ["applied_coupons.id"],
            name=op.f("fk_coupon_credits_applied_coupon_id_applied_coupons"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_coupon_credits_invoice_id_invoices")
        ),
        _org_fk("coupon_credits"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_credits")),
    )
    with op.batch_alter_table("coupon_credits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_credits_invoice_id"), ["invoice_id"], unique=False
        )
        batch_op.create_index(
            "uq_coupon_credits_invoice", ["applied_coupon_id", "invoice_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("coupon_credits", schema=None) as batch_op:
        batch_op.drop_index("uq_coupon_credits_invoice")
        batch_op.drop_index(batch_op.f("ix_coupon_credits_invoice_id"))
    op.drop_table("coupon_credits")
    with op.batch_alter_table("applied_coupons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applied_coupons_organization_id"))
        batch_op.drop_index("ix_applied_coupons_customer")
        batch_op.drop_index(batch_op.f("ix_applied_coupons_coupon_id"))
    op.drop_table("applied_coupons")
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_coupons_code", sqlite_where=NOT_DELETED, postgresql_where=NOT_DELETED
        )
        batch_op.drop_index(batch_op.f("ix_coupons_organization_id"))
    op.drop_table("coupons")
    with op.batch_alter_table("add_ons", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_add_ons_code", sqlite_where=NOT_DELETED, postgresql_where=NOT_DELETED
        )
        batch_op.drop_index(batch_op.f("ix_add_ons_organization_id"))
    op.drop_table("add_ons")
