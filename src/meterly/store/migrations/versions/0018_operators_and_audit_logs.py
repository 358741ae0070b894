"""operators (users, invitations, failed sign-ins) and audit logs (activity and API logs)

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-05 17:15:00

People sign in to the dashboard with an e-mail and a password and a role; every change to
a business object is recorded with who made it, and every API write with its request.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _instant(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=nullable)


def _id(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
    )


def upgrade() -> None:
    op.create_table(
        "users",
        _id("id"),
        _id("organization_id"),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        _org_fk("users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_organization_id"), "users", ["organization_id"])
    op.create_table(
        "invitations",
        _id("id"),
        _id("organization_id"),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.String(length=255), nullable=True),
        _instant("expires_at"),
        _instant("accepted_at", nullable=True),
        _instant("revoked_at", nullable=True),
        _instant("created_at"),
        _org_fk("invitations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(op.f("ix_invitations_organization_id"), "invitations", ["organization_id"])
    op.create_table(
        "sign_in_failures",
        _id("id"),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        _instant("failed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index(
        "ix_sign_in_failures_account_failed_at", "sign_in_failures", ["account", "failed_at"]
    )
    op.create_index(
        "ix_sign_in_failures_address_failed_at", "sign_in_failures", ["address", "failed_at"]
    )
    op.create_table(
        "activity_logs",
        _id("id"),
        _id("organization_id"),
        sa.Column("activity_type", sa.String(length=64), nullable=False),
        sa.Column("activity_source", sa.String(length=16), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        _id("actor_id", nullable=True),
        sa.Column("user_email", sa.String(length=255), nullable=True),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        _id("resource_id"),
        sa.Column("external_customer_id", sa.String(length=255), nullable=True),
        sa.Column("external_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("activity_object", _json(), nullable=True),
        sa.Column("activity_object_changes", _json(), nullable=True),
        _instant("logged_at"),
        _instant("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_logs")),
    )
    op.create_index(
        "ix_activity_logs_organization_id_logged_at",
        "activity_logs",
        ["organization_id", "logged_at"],
    )
    op.create_index("ix_activity_logs_resource_id", "activity_logs", ["resource_id"])
    op.create_table(
        "api_logs",
        _id("request_id"),
        _id("organization_id"),
        _id("api_key_id", nullable=True),
        sa.Column("api_version", sa.String(length=8), nullable=False),
        sa.Column("client", sa.String(length=255), nullable=False),
        sa.Column("http_method", sa.String(length=8), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("request_origin", sa.String(length=255), nullable=False),
        sa.Column("request_path", sa.String(length=1024), nullable=False),
        sa.Column("request_body", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        _instant("logged_at"),
        _instant("created_at"),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_api_logs")),
    )
    op.create_index(
        "ix_api_logs_organization_id_logged_at", "api_logs", ["organization_id", "logged_at"]
    )


def downgrade() -> None:
    op.drop_table("api_logs")
    op.drop_table("activity_logs")
    op.drop_table("sign_in_failures")
    op.drop_table("invitations")
    op.drop_table("users")
