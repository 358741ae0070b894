"""invoices fees webhooks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:54:23.984758
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "document_sequences",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_document_sequences_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("organization_id", "scope", name=op.f("pk_document_sequences")),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("webhook_url", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("signature_algo", sa.String(length=8), nullable=False),
        sa.Column(
            "event_types",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_webhook_endpoints_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        sa.UniqueConstraint(
            "organization_id",
            "webhook_url",
            name=op.f("uq_webhook_endpoints_organization_id_webhook_url"),
        ),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payment_status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("sequential_id", sa.Integer(), nullable=True),
        sa.Column("issuing_date", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column(
            "payment_due_date", meterly.store.types.AwareDateTime(timezone=True), nullable=False
        ),
        sa.Column("net_payment_term", sa.Integer(), nullable=False),
        sa.Column("fees_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("coupons_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("progressive_billing_credit_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("sub_total_excluding_taxes_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("taxes_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("sub_total_including_taxes_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("credit_notes_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("prepaid_credit_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_paid_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "breakdown",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("file_path", sa.String(length=512), nullable=True),
        sa.Column("payment_overdue", sa.Boolean(), nullable=False),
        sa.Column("finalize_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("voided_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("finalized_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_invoices_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_invoices_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invoices_customer", ["organization_id", "customer_id", "issuing_date"], unique=False
        )
        batch_op.create_index(
            "uq_invoices_number",
            ["organization_id", "number"],
            unique=True,
            sqlite_where=sa.text("number IS NOT NULL"),
            postgresql_where=sa.text("number IS NOT NULL"),
        )

    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("webhook_endpoint_id", sa.String(length=36), nullable=False),
        sa.Column("webhook_type", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column(
            "attempts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "next_attempt_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_attempt_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_webhooks_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["webhook_endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhooks_webhook_endpoint_id_webhook_endpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.create_index("ix_webhooks_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_webhooks_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "invoice_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("boundary", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("invoicing_reason", sa.String(length=32), nullable=False),
        sa.Column("from_datetime", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("to_datetime", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column(
            "charges_from_datetime", meterly.store.types.AwareDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "charges_to_datetime", meterly.store.types.AwareDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_subscriptions_invoice_id_invoices"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_invoice_subscriptions_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_subscriptions")),
        sa.UniqueConstraint(
            "subscription_id",
            "boundary",
            "invoicing_reason",
            name=op.f("uq_invoice_subscriptions_subscription_id_boundary_invoicing_reason"),
        ),
    )
    with op.batch_alter_table("invoice_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_subscriptions_invoice_id"), ["invoice_id"], unique=False
        )

    op.create_table(
        "fees",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=True),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=True),
        sa.Column("charge_id", sa.String(length=36), nullable=True),
        sa.Column("charge_filter_id", sa.String(length=36), nullable=True),
        sa.Column("true_up_parent_fee_id", sa.String(length=36), nullable=True),
        sa.Column("add_on_id", sa.String(length=36), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("fee_type", sa.String(length=16), nullable=False),
        sa.Column(
            "item",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("pay_in_advance", sa.Boolean(), nullable=False),
        sa.Column("invoiceable", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("precise_amount_cents", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("unit_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("precise_unit_amount", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("units", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("total_aggregated_units", meterly.store.types.ExactDecimal(), nullable=True),
        sa.Column("events_count", sa.Integer(), nullable=True),
        sa.Column(
            "precise_coupons_amount_cents", meterly.store.types.ExactDecimal(), nullable=False
        ),
        sa.Column("taxes_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("taxes_precise_amount_cents", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("taxes_rate", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column(
            "applied_taxes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "amount_details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "explanation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("event_transaction_id", sa.String(length=255), nullable=True),
        sa.Column("payment_status", sa.String(length=16), nullable=False),
        sa.Column("from_datetime", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("to_datetime", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("succeeded_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["charge_filter_id"],
            ["charge_filters.id"],
            name=op.f("fk_fees_charge_filter_id_charge_filters"),
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["charges.id"], name=op.f("fk_fees_charge_id_charges")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_fees_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_fees_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_fees_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_fees_subscription_id_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["true_up_parent_fee_id"], ["fees.id"], name=op.f("fk_fees_true_up_parent_fee_id_fees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fees")),
    )
    with op.batch_alter_table("fees", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fees_invoice_id"), ["invoice_id"], unique=False)
        batch_op.create_index(
            "ix_fees_org_created", ["organization_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_fees_subscription", ["subscription_id", "charge_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("fees", schema=None) as batch_op:
        batch_op.drop_index("ix_fees_subscription")
        batch_op.drop_index("ix_fees_org_created")
        batch_op.drop_index(batch_op.f("ix_fees_invoice_id"))

    op.drop_table("fees")
    with op.batch_alter_table("invoice_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_subscriptions_invoice_id"))

    op.drop_table("invoice_subscriptions")
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhooks_organization_id"))
        batch_op.drop_index("ix_webhooks_due")

    op.drop_table("webhooks")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_invoices_number",
            sqlite_where=sa.text("number IS NOT NULL"),
            postgresql_where=sa.text("number IS NOT NULL"),
        )
        batch_op.drop_index("ix_invoices_customer")

    op.drop_table("invoices")
    op.drop_table("webhook_endpoints")
    op.drop_table("document_sequences")
