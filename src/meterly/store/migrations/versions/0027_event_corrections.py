"""event corrections (voided and amended events, late events, correction documents)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 04:20:00

Events are never deleted: `voided_at` and `amended_at` mark a corrected row, and
`event_corrections` keeps what it was before, who changed it and which correction document
carried it. `fee_corrections` is each correction document's signed change to one original
fee (what makes a correction run idempotent). `organizations.accept_late_events` lets
events of an invoiced period feed corrections.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=nullable)


def _id(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(_at("voided_at", nullable=True))
        batch.add_column(_at("amended_at", nullable=True))
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(
            sa.Column("accept_late_events", sa.Boolean(), nullable=False, server_default="0")
        )
    op.create_table(
        "event_corrections",
        _id("id"),
        _id("organization_id"),
        sa.Column("transaction_id", sa.String(length=255), nullable=False),
        sa.Column("external_subscription_id", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _json("before"),
        _json("after"),
        sa.Column("actor", sa.String(length=255), nullable=False),
        _at("created_at"),
        _at("applied_at", nullable=True),
        _id("original_invoice_id", nullable=True),
        _id("corrected_in_invoice_id", nullable=True),
        _id("credit_note_id", nullable=True),
        _fk("event_corrections", "organization_id", "organizations"),
        _fk("event_corrections", "original_invoice_id", "invoices"),
        _fk("event_corrections", "corrected_in_invoice_id", "invoices"),
        _fk("event_corrections", "credit_note_id", "credit_notes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_corrections")),
    )
    op.create_index(
        "ix_event_corrections_scope",
        "event_corrections",
        ["organization_id", "external_subscription_id", "code"],
    )
    op.create_table(
        "fee_corrections",
        _id("id"),
        _id("organization_id"),
        _id("original_invoice_id"),
        _id("fee_id"),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        _id("credit_note_id", nullable=True),
        _id("correction_invoice_id", nullable=True),
        _id("correction_fee_id", nullable=True),
        _at("created_at"),
        _fk("fee_corrections", "organization_id", "organizations"),
        _fk("fee_corrections", "original_invoice_id", "invoices"),
        _fk("fee_corrections", "fee_id", "fees"),
        _fk("fee_corrections", "credit_note_id", "credit_notes"),
        _fk("fee_corrections", "correction_invoice_id", "invoices"),
        _fk("fee_corrections", "correction_fee_id", "fees"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_corrections")),
    )
    op.create_index(op.f("ix_fee_corrections_fee_id"), "fee_corrections", ["fee_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_fee_corrections_fee_id"), table_name="fee_corrections")
    op.drop_table("fee_corrections")
    op.drop_index("ix_event_corrections_scope", table_name="event_corrections")
    op.drop_table("event_corrections")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("accept_late_events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("amended_at")
        batch.drop_column("voided_at")
