"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 01:45:25.057473
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "events",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("transaction_id", sa.String(length=255), nullable=False),
        sa.Column("external_subscription_id", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("timestamp", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("precise_total_amount_cents", meterly.store.types.ExactDecimal(), nullable=True),
        sa.Column("lago_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_usage",
            ["organization_id", "external_subscription_id", "code", "timestamp"],
            unique=False,
        )
        batch_op.create_index(
            "uq_events_idempotency",
            ["organization_id", "transaction_id", "external_subscription_id"],
            unique=True,
        )

    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("default_currency", sa.String(length=3), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("net_payment_term", sa.Integer(), nullable=False),
        sa.Column("invoice_grace_period", sa.Integer(), nullable=False),
        sa.Column("document_numbering", sa.String(length=32), nullable=False),
        sa.Column("document_number_prefix", sa.String(length=16), nullable=False),
        sa.Column("finalize_zero_amount_invoice", sa.Boolean(), nullable=False),
        sa.Column("hmac_key", sa.String(length=64), nullable=False),
        sa.Column("webhook_url", sa.String(length=255), nullable=True),
        sa.Column(
            "profile",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "billing_configuration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_api_keys_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_keys_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "billable_metrics",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("aggregation_type", sa.String(length=32), nullable=False),
        sa.Column("field_name", sa.String(length=255), nullable=True),
        sa.Column("recurring", sa.Boolean(), nullable=False),
        sa.Column("rounding_function", sa.String(length=8), nullable=True),
        sa.Column("rounding_precision", sa.Integer(), nullable=True),
        sa.Column("weighted_interval", sa.String(length=16), nullable=True),
        sa.Column("expression", sa.Text(), nullable=True),
        sa.Column(
            "filters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_billable_metrics_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billable_metrics")),
    )
    with op.batch_alter_table("billable_metrics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_billable_metrics_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "uq_billable_metrics_code",
            ["organization_id", "code"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("sequential_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("net_payment_term", sa.Integer(), nullable=True),
        sa.Column("invoice_grace_period", sa.Integer(), nullable=True),
        sa.Column("finalize_zero_amount_invoice", sa.String(length=16), nullable=False),
        sa.Column(
            "tax_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "profile",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "billing_configuration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_customers_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customers_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "uq_customers_external_id",
            ["organization_id", "external_id"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "plans",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("invoice_display_name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("interval", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("amount_currency", sa.String(length=3), nullable=False),
        sa.Column("trial_period", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("pay_in_advance", sa.Boolean(), nullable=False),
        sa.Column("bill_charges_monthly", sa.Boolean(), nullable=True),
        sa.Column(
            "tax_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "minimum_commitment",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "usage_thresholds",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_plans_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["plans.id"], name=op.f("fk_plans_parent_id_plans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
    )
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plans_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "uq_plans_code",
            ["organization_id", "code"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "taxes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("rate", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("applied_to_organization", sa.Boolean(), nullable=False),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_taxes_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxes")),
        sa.UniqueConstraint("organization_id", "code", name=op.f("uq_taxes_organization_id_code")),
    )
    op.create_table(
        "charges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("billable_metric_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("charge_model", sa.String(length=32), nullable=False),
        sa.Column("invoice_display_name", sa.String(length=255), nullable=True),
        sa.Column("pay_in_advance", sa.Boolean(), nullable=False),
        sa.Column("prorated", sa.Boolean(), nullable=False),
        sa.Column("invoiceable", sa.Boolean(), nullable=False),
        sa.Column("regroup_paid_fees", sa.String(length=16), nullable=True),
        sa.Column("min_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tax_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["billable_metric_id"],
            ["billable_metrics.id"],
            name=op.f("fk_charges_billable_metric_id_billable_metrics"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_charges_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_charges_plan_id_plans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charges")),
    )
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charges_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("plan_id", sa.String(length=36), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("billing_time", sa.String(length=16), nullable=False),
        sa.Column(
            "subscription_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False
        ),
        sa.Column("started_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("ending_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("terminated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column(
            "trial_ended_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True
        ),
        sa.Column("previous_subscription_id", sa.String(length=36), nullable=True),
        sa.Column("on_termination_credit_note", sa.String(length=16), nullable=True),
        sa.Column("on_termination_invoice", sa.String(length=16), nullable=False),
        sa.Column("progressive_billing_disabled", sa.Boolean(), nullable=False),
        sa.Column(
            "usage_thresholds",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "last_billed_boundary", meterly.store.types.AwareDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_subscriptions_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_subscriptions_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_subscriptions_plan_id_plans")
        ),
        sa.ForeignKeyConstraint(
            ["previous_subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscriptions_previous_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscriptions_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_subscriptions_external", ["organization_id", "external_id", "status"], unique=False
        )

    op.create_table(
        "charge_filters",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("charge_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_display_name", sa.String(length=255), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["charges.id"], name=op.f("fk_charge_filters_charge_id_charges")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_filters")),
    )
    with op.batch_alter_table("charge_filters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_charge_filters_charge_id"), ["charge_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("charge_filters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charge_filters_charge_id"))

    op.drop_table("charge_filters")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_external")
        batch_op.drop_index(batch_op.f("ix_subscriptions_customer_id"))

    op.drop_table("subscriptions")
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charges_plan_id"))

    op.drop_table("charges")
    op.drop_table("taxes")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_plans_code",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_plans_organization_id"))

    op.drop_table("plans")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_customers_external_id",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_customers_organization_id"))

    op.drop_table("customers")
    with op.batch_alter_table("billable_metrics", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_billable_metrics_code",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_billable_metrics_organization_id"))

    op.drop_table("billable_metrics")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_organization_id"))

    op.drop_table("api_keys")
    op.drop_table("organizations")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("uq_events_idempotency")
        batch_op.drop_index("ix_events_usage")

    op.drop_table("events")
