"""features, feature privileges, plan and subscription entitlements

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 16:40:00

Lago's features and entitlements (open since October 2025): a feature has typed
privileges; plans grant features with privilege values; subscriptions override the values
or remove a feature their plan grants.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _instant(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "features",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_features_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_features")),
        sa.UniqueConstraint(
            "organization_id", "code", name=op.f("uq_features_organization_id_code")
        ),
    )
    op.create_table(
        "feature_privileges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("feature_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("value_type", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("config", _json(), nullable=False),
        _instant("created_at"),
        sa.ForeignKeyConstraint(
            ["feature_id"], ["features.id"], name=op.f("fk_feature_privileges_feature_id_features")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_privileges")),
        sa.UniqueConstraint(
            "feature_id", "code", name=op.f("uq_feature_privileges_feature_id_code")
        ),
    )
    for table, owner, owners in (
        ("plan_entitlements", "plan_id", "plans"),
        ("subscription_entitlements", "subscription_id", "subscriptions"),
    ):
        extra: list[sa.Column] = (  # type: ignore[type-arg]
            [sa.Column("removed", sa.Boolean(), nullable=False)]
            if table == "subscription_entitlements"
            else []
        )
        op.create_table(
            table,
            sa.Column("id", sa.String(length=36), nullable=False),
            sa.Column("organization_id", sa.String(length=36), nullable=False),
            sa.Column(owner, sa.String(length=36), nullable=False),
            sa.Column("feature_id", sa.String(length=36), nullable=False),
            sa.Column("privilege_values", _json(), nullable=False),
            *extra,
            _instant("created_at"),
            _instant("updated_at"),
            sa.ForeignKeyConstraint(
                ["feature_id"], ["features.id"], name=op.f(f"fk_{table}_feature_id_features")
            ),
            sa.ForeignKeyConstraint(
                ["organization_id"],
                ["organizations.id"],
                name=op.f(f"fk_{table}_organization_id_organizations"),
            ),
            sa.ForeignKeyConstraint(
                [owner], [f"{owners}.id"], name=op.f(f"fk_{table}_{owner}_{owners}")
            ),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint(owner, "feature_id", name=op.f(f"uq_{table}_{owner}_feature_id")),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_{owner}"), [owner], unique=False)
            batch_op.create_index(
                batch_op.f(f"ix_{table}_feature_id"), ["feature_id"], unique=False
            )


def downgrade() -> None:
    op.drop_table("subscription_entitlements")
    op.drop_table("plan_entitlements")
    op.drop_table("feature_privileges")
    op.drop_table("features")
