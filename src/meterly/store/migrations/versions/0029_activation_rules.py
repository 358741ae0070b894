"""activation rules (a subscription waits for its first payment)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 04:20:00

Lago's `activation_rules`: a subscription created with a `payment` rule stays
`incomplete` until its first invoice is paid. The rules get their own table; the
subscription keeps when it was activated and why it was canceled before that.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import meterly.store.types

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "subscription_activation_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("rule_type", sa.String(length=16), nullable=False),
        sa.Column("timeout_hours", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("expires_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_subscription_activation_rules_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_activation_rules_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_activation_rules")),
    )
    op.create_index(
        op.f("ix_subscription_activation_rules_subscription_id"),
        "subscription_activation_rules",
        ["subscription_id"],
    )
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(_at("activated_at", nullable=True))
        batch.add_column(sa.Column("cancellation_reason", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("cancellation_reason")
        batch.drop_column("activated_at")
    op.drop_index(
        op.f("ix_subscription_activation_rules_subscription_id"),
        table_name="subscription_activation_rules",
    )
    op.drop_table("subscription_activation_rules")
