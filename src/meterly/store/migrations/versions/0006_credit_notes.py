"""credit notes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_WHEN_TERMINATION = "terminated_subscription_id IS NOT NULL"


def _dt(name: str, *, nullable: bool) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=nullable)


def _dec(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, meterly.store.types.ExactDecimal(), nullable=False)


def _cents(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.BigInteger(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "credit_notes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("terminated_subscription_id", sa.String(length=36), nullable=True),
        sa.Column("sequential_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=80), nullable=False),
        _dt("issuing_date", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("credit_status", sa.String(length=16), nullable=True),
        sa.Column("refund_status", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        _cents("total_amount_cents"),
        _dec("precise_total_amount_cents"),
        _cents("taxes_amount_cents"),
        _dec("precise_taxes_amount_cents"),
        _dec("taxes_rate"),
        _cents("sub_total_excluding_taxes_amount_cents"),
        _cents("coupons_adjustment_amount_cents"),
        _dec("precise_coupons_adjustment_amount_cents"),
        _cents("rounding_adjustment_cents"),
        _cents("credit_amount_cents"),
        _cents("balance_amount_cents"),
        _cents("refund_amount_cents"),
        _cents("offset_amount_cents"),
        sa.Column("applied_taxes", _JSON, nullable=False),
        sa.Column("metadata", _JSON, nullable=False),
        sa.Column("file_path", sa.String(length=512), nullable=True),
        _dt("voided_at", nullable=True),
        _dt("refunded_at", nullable=True),
        _dt("created_at", nullable=False),
        _dt("updated_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_credit_notes_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_credit_notes_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_credit_notes_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["terminated_subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_credit_notes_terminated_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_notes")),
    )
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_notes_customer", ["organization_id", "customer_id", "created_at"]
        )
        batch_op.create_index(
            "ix_credit_notes_available", ["customer_id", "credit_status", "currency"]
        )
        batch_op.create_index("ix_credit_notes_invoice_id", ["invoice_id"])
        batch_op.create_index("uq_credit_notes_number", ["organization_id", "number"], unique=True)
        batch_op.create_index(
            "uq_credit_notes_termination",
            ["terminated_subscription_id"],
            unique=True,
            sqlite_where=sa.text(_WHEN_TERMINATION),
            postgresql_where=sa.text(_WHEN_TERMINATION),
        )

    op.create_table(
        "credit_note_items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("credit_note_id", sa.String(length=36), nullable=False),
        sa.Column("fee_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _cents("amount_cents"),
        _dec("precise_amount_cents"),
        sa.Column("amount_currency", sa.String(length=3), nullable=False),
        _dt("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_credit_note_items_credit_note_id_credit_notes"),
        ),
        sa.ForeignKeyConstraint(
            ["fee_id"], ["fees.id"], name=op.f("fk_credit_note_items_fee_id_fees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_note_items")),
    )
    with op.batch_alter_table("credit_note_items", schema=None) as batch_op:
        batch_op.create_index("ix_credit_note_items_credit_note_id", ["credit_note_id"])
        batch_op.create_index("ix_credit_note_items_fee_id", ["fee_id"])


def downgrade() -> None:
    with op.batch_alter_table("credit_note_items", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_note_items_fee_id")
        batch_op.drop_index("ix_credit_note_items_credit_note_id")
    op.drop_table("credit_note_items")
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_credit_notes_termination",
            sqlite_where=sa.text(_WHEN_TERMINATION),
            postgresql_where=sa.text(_WHEN_TERMINATION),
        )
        batch_op.drop_index("uq_credit_notes_number")
        batch_op.drop_index("ix_credit_notes_invoice_id")
        batch_op.drop_index("ix_credit_notes_available")
        batch_op.drop_index("ix_credit_notes_customer")
    op.drop_table("credit_notes")
