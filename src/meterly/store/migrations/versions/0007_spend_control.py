"""spend control

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 02:10:13.238841
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("external_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("wallet_id", sa.String(length=36), nullable=True),
        sa.Column("alert_type", sa.String(length=48), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("billable_metric_id", sa.String(length=36), nullable=True),
        sa.Column(
            "thresholds",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("previous_value", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column(
            "last_processed_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["billable_metric_id"],
            ["billable_metrics.id"],
            name=op.f("fk_alerts_billable_metric_id_billable_metrics"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_alerts_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alerts_subscription", ["organization_id", "external_subscription_id"], unique=False
        )

    op.create_table(
        "lifetime_usages",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("external_historical_usage_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_lifetime_usages_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_lifetime_usages_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_lifetime_usages")),
        sa.UniqueConstraint("id", name=op.f("uq_lifetime_usages_id")),
    )
    op.create_table(
        "triggered_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("period_key", sa.String(length=64), nullable=False),
        sa.Column("threshold_key", sa.String(length=80), nullable=False),
        sa.Column("current_value", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column("previous_value", meterly.store.types.ExactDecimal(), nullable=False),
        sa.Column(
            "crossed_thresholds",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("triggered_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_triggered_alerts_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triggered_alerts")),
        sa.UniqueConstraint(
            "alert_id",
            "period_key",
            "threshold_key",
            name=op.f("uq_triggered_alerts_alert_id_period_key_threshold_key"),
        ),
    )
    with op.batch_alter_table("triggered_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_triggered_alerts_alert_id"), ["alert_id"], unique=False
        )

    op.create_table(
        "usage_threshold_crossings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("threshold_id", sa.String(length=36), nullable=False),
        sa.Column("crossing_key", sa.String(length=80), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("lifetime_usage_amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_usage_threshold_crossings_invoice_id_invoices"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_usage_threshold_crossings_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_threshold_crossings")),
        sa.UniqueConstraint(
            "subscription_id",
            "crossing_key",
            name=op.f("uq_usage_threshold_crossings_subscription_id_crossing_key"),
        ),
    )


def downgrade() -> None:

    op.drop_table("usage_threshold_crossings")
    with op.batch_alter_table("triggered_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triggered_alerts_alert_id"))

    op.drop_table("triggered_alerts")
    op.drop_table("lifetime_usages")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_subscription")

    op.drop_table("alerts")
