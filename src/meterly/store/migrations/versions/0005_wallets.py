"""wallets: wallets, wallet transactions (the ledger), consumptions, recurring top-up rules

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("rate_amount", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "applies_to",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("invoice_requires_successful_payment", sa.Boolean(), nullable=False),
        sa.Column("paid_top_up_min_amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("paid_top_up_max_amount_cents", sa.BigInteger(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("credits_balance", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("consumed_credits", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("consumed_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("ongoing_balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("credits_ongoing_balance", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("ongoing_usage_balance_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "credits_ongoing_usage_balance", meterly.store.types.ExactDecimal(), nullable=False
        ),
        sa.Column("depleted_ongoing_balance", sa.Boolean(), nullable=False),
        sa.Column(
            "last_balance_sync_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_consumed_credit_at",
            meterly.store.types.AwareDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("expiration_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("terminated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_wallets_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_wallets_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallets")),
    )
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_wallets_org_customer", ["organization_id", "customer_id", "status"], unique=False
        )
        batch_op.create_index("uq_wallets_customer_code", ["customer_id", "code"], unique=True)

    op.create_table(
        "recurring_transaction_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("wallet_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("interval", sa.String(length=16), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("paid_credits", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("granted_credits", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("threshold_credits", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("target_ongoing_balance", meterly.store.types.ExactDecimal(), nullable=True),
        sa.Column("grants_target_top_up", sa.Boolean(), nullable=False),
        sa.Column("invoice_requires_successful_payment", sa.Boolean(), nullable=False),
        sa.Column("ignore_paid_top_up_limits", sa.Boolean(), nullable=False),
        sa.Column(
            "transaction_metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("transaction_name", sa.String(length=255), nullable=True),
        sa.Column("started_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("expiration_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("last_top_up_on", sa.Date(), nullable=True),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name=op.f("fk_recurring_transaction_rules_wallet_id_wallets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recurring_transaction_rules")),
    )
    with op.batch_alter_table("recurring_transaction_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recurring_transaction_rules_wallet_id"), ["wallet_id"], unique=False
        )

    op.create_table(
        "wallet_transactions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("wallet_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=True),
        sa.Column("transaction_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("transaction_status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("credit_amount", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("amount", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("remaining_amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("invoice_requires_successful_payment", sa.Boolean(), nullable=False),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("settled_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_wallet_transactions_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_wallet_transactions_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_wallet_transactions_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_transactions")),
    )
    with op.batch_alter_table("wallet_transactions", schema=None) as batch_op:
        batch_op.create_index("ix_wallet_transactions_invoice", ["invoice_id"], unique=False)
        batch_op.create_index(
            "ix_wallet_transactions_wallet", ["wallet_id", "position"], unique=False
        )

    op.create_table(
        "wallet_consumptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("inbound_wallet_transaction_id", sa.String(length=36), nullable=False),
        sa.Column("outbound_wallet_transaction_id", sa.String(length=36), nullable=False),
        sa.Column("consumed_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbound_wallet_transaction_id"],
            ["wallet_transactions.id"],
            name="fk_wallet_consumptions_inbound",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_wallet_consumptions_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["outbound_wallet_transaction_id"],
            ["wallet_transactions.id"],
            name="fk_wallet_consumptions_outbound",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_consumptions")),
    )
    with op.batch_alter_table("wallet_consumptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_wallet_consumptions_inbound", ["inbound_wallet_transaction_id"], unique=False
        )
        batch_op.create_index(
            "ix_wallet_consumptions_outbound", ["outbound_wallet_transaction_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("wallet_consumptions", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_consumptions_outbound")
        batch_op.drop_index("ix_wallet_consumptions_inbound")

    op.drop_table("wallet_consumptions")
    with op.batch_alter_table("wallet_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_transactions_wallet")
        batch_op.drop_index("ix_wallet_transactions_invoice")

    op.drop_table("wallet_transactions")
    with op.batch_alter_table("recurring_transaction_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recurring_transaction_rules_wallet_id"))

    op.drop_table("recurring_transaction_rules")
    with op.batch_alter_table("wallets", schema=None) as batch_op:
        batch_op.drop_index("uq_wallets_customer_code")
        batch_op.drop_index("ix_wallets_org_customer")

    op.drop_table("wallets")
