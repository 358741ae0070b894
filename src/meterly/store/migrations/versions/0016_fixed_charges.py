"""fixed charges and the units timeline of each subscription

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 17:20:00

Lago's fixed charges (January 2026): a plan's recurring add-on fees priced as units x
price with the standard, graduated or volume model, and each subscription's units over
time (per-subscription overrides, changes applied now or at the next period).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _instant(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=nullable)


_LIVE = sa.text("deleted_at IS NULL")
_LIVE_PARENT = sa.text("deleted_at IS NULL AND parent_id IS NULL")


def _plan_code_index(where: sa.TextClause) -> None:
    """A plan override keeps its parent's code: the code is unique among parent plans."""
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_index("uq_plans_code", sqlite_where=_LIVE, postgresql_where=_LIVE)
        batch_op.create_index(
            "uq_plans_code",
            ["organization_id", "code"],
            unique=True,
            sqlite_where=where,
            postgresql_where=where,
        )


def upgrade() -> None:
    _plan_code_index(_LIVE_PARENT)
    op.create_table(
        "fixed_charges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("add_on_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("charge_model", sa.String(length=32), nullable=False),
        sa.Column("invoice_display_name", sa.String(length=255), nullable=True),
        sa.Column("units", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("pay_in_advance", sa.Boolean(), nullable=False),
        sa.Column("prorated", sa.Boolean(), nullable=False),
        sa.Column("properties", _json(), nullable=False),
        sa.Column("tax_codes", _json(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        _instant("deleted_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["add_on_id"], ["add_ons.id"], name=op.f("fk_fixed_charges_add_on_id_add_ons")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_fixed_charges_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_fixed_charges_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fixed_charges")),
    )
    op.create_index("ix_fixed_charges_plan_id", "fixed_charges", ["plan_id"], unique=False)
    op.create_table(
        "fixed_charge_units",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("fixed_charge_code", sa.String(length=255), nullable=False),
        sa.Column("units", meterly.store.types.ExactDecimal(), nullable=False),
        _instant("effective_at"),
        _instant("created_at"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_fixed_charge_units_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_fixed_charge_units_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fixed_charge_units")),
    )
    op.create_index(
        "ix_fixed_charge_units_subscription",
        "fixed_charge_units",
        ["subscription_id", "fixed_charge_code"],
        unique=False,
    )


def downgrade() -> None:
    _plan_code_index(_LIVE)
    op.drop_index("ix_fixed_charge_units_subscription", table_name="fixed_charge_units")
    op.drop_table("fixed_charge_units")
    op.drop_index("ix_fixed_charges_plan_id", table_name="fixed_charges")
    op.drop_table("fixed_charges")
