"""payments: provider connections, linked customers, payments, receipts, charge attempts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "payment_provider_connections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("secret_key_encrypted", sa.Text(), nullable=False),
        sa.Column("webhook_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("api_base", sa.String(length=255), nullable=True),
        sa.Column("publishable_key", sa.String(length=255), nullable=True),
        sa.Column("success_redirect_url", sa.String(length=1024), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_payment_provider_connections_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_provider_connections")),
    )
    op.create_index(
        "uq_payment_provider_connections_code",
        "payment_provider_connections",
        ["organization_id", "code"],
        unique=True,
    )
    op.create_table(
        "provider_customers",
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("provider_customer_id", sa.String(length=255), nullable=True),
        sa.Column("sync_with_provider", sa.Boolean(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["payment_provider_connections.id"],
            name=op.f("fk_provider_customers_connection_id_payment_provider_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_provider_customers_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_provider_customers_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_provider_customers")),
    )
    op.create_index(
        op.f("ix_provider_customers_organization_id"),
        "provider_customers",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("payment_type", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("payment_status", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("connection_id", sa.String(length=36), nullable=True),
        sa.Column("provider_payment_id", sa.String(length=255), nullable=True),
        sa.Column("provider_customer_id", sa.String(length=255), nullable=True),
        sa.Column("next_action", _Json, nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        _at("paid_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["payment_provider_connections.id"],
            name=op.f("fk_payments_connection_id_payment_provider_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_payments_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payments_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_payments_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index(op.f("ix_payments_customer_id"), "payments", ["customer_id"], unique=False)
    op.create_index(op.f("ix_payments_invoice_id"), "payments", ["invoice_id"], unique=False)
    op.create_index(
        "ix_payments_org_created", "payments", ["organization_id", "created_at"], unique=False
    )
    op.create_index(
        "uq_payments_provider_payment",
        "payments",
        ["organization_id", "provider_payment_id"],
        unique=True,
        sqlite_where=sa.text("provider_payment_id IS NOT NULL"),
        postgresql_where=sa.text("provider_payment_id IS NOT NULL"),
    )
    op.create_table(
        "payment_receipts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("payment_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("sequential_id", sa.Integer(), nullable=False),
        sa.Column("file_path", sa.String(length=512), nullable=True),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_payment_receipts_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_receipts_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_receipts")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_payment_receipts_payment_id")),
    )
    op.create_index(
        "uq_payment_receipts_number",
        "payment_receipts",
        ["organization_id", "number"],
        unique=True,
    )
    op.create_table(
        "charge_attempts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        _at("run_at"),
        _at("lease_until", nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _at("created_at"),
        _at("finished_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_charge_attempts_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_charge_attempts_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_attempts")),
    )
    op.create_index(
        "uq_charge_attempts_invoice_attempt",
        "charge_attempts",
        ["invoice_id", "attempt"],
        unique=True,
    )
    op.create_index("ix_charge_attempts_due", "charge_attempts", ["state", "run_at"], unique=False)
    op.create_table(
        "provider_events",
        sa.Column("connection_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        _at("received_at"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["payment_provider_connections.id"],
            name=op.f("fk_provider_events_connection_id_payment_provider_connections"),
        ),
        sa.PrimaryKeyConstraint("connection_id", "event_id", name=op.f("pk_provider_events")),
    )


def downgrade() -> None:
    op.drop_table("provider_events")
    op.drop_index("ix_charge_attempts_due", table_name="charge_attempts")
    op.drop_index("uq_charge_attempts_invoice_attempt", table_name="charge_attempts")
    op.drop_table("charge_attempts")
    op.drop_index("uq_payment_receipts_number", table_name="payment_receipts")
    op.drop_table("payment_receipts")
    op.drop_index("uq_payments_provider_payment", table_name="payments")
    op.drop_index("ix_payments_org_created", table_name="payments")
    op.drop_index(op.f("ix_payments_invoice_id"), table_name="payments")
    op.drop_index(op.f("ix_payments_customer_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_index(op.f("ix_provider_customers_organization_id"), table_name="provider_customers")
    op.drop_table("provider_customers")
    op.drop_index("uq_payment_provider_connections_code", table_name="payment_provider_connections")
    op.drop_table("payment_provider_connections")
