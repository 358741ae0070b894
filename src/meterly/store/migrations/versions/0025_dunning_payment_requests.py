"""dunning campaigns and payment requests

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 01:30:00

Campaigns per organization, each customer's place in dunning, and payment requests with
their invoices. (campaign, customer, attempt) is unique on payment requests: two workers
running the same dunning attempt create one request.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=nullable)


def _id(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "dunning_campaigns",
        _id("id"),
        _id("organization_id"),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("applied_to_organization", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("days_between_attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("thresholds", _Json, nullable=False),
        sa.Column("bcc_emails", _Json, nullable=False),
        _at("created_at"),
        _at("updated_at"),
        _at("deleted_at", nullable=True),
        _fk("dunning_campaigns", "organization_id", "organizations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning_campaigns")),
    )
    op.create_index(
        "ix_dunning_campaigns_org_code", "dunning_campaigns", ["organization_id", "code"]
    )
    op.create_table(
        "customer_dunning",
        _id("customer_id"),
        _id("organization_id"),
        _id("applied_campaign_id", nullable=True),
        sa.Column("excluded", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("last_attempt_at", nullable=True),
        sa.Column("finished", sa.Boolean(), server_default="0", nullable=False),
        _at("updated_at"),
        _fk("customer_dunning", "customer_id", "customers"),
        _fk("customer_dunning", "organization_id", "organizations"),
        _fk("customer_dunning", "applied_campaign_id", "dunning_campaigns"),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_dunning")),
    )
    op.create_index(
        op.f("ix_customer_dunning_organization_id"), "customer_dunning", ["organization_id"]
    )
    op.create_table(
        "payment_requests",
        _id("id"),
        _id("organization_id"),
        _id("customer_id"),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_status", sa.String(length=16), nullable=False),
        _id("dunning_campaign_id", nullable=True),
        sa.Column("dunning_attempt", sa.Integer(), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _fk("payment_requests", "organization_id", "organizations"),
        _fk("payment_requests", "customer_id", "customers"),
        _fk("payment_requests", "dunning_campaign_id", "dunning_campaigns"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_requests")),
    )
    op.create_index(
        "ix_payment_requests_org_created", "payment_requests", ["organization_id", "created_at"]
    )
    op.create_index(op.f("ix_payment_requests_customer_id"), "payment_requests", ["customer_id"])
    op.create_index(
        "uq_payment_requests_dunning_attempt",
        "payment_requests",
        ["dunning_campaign_id", "customer_id", "dunning_attempt"],
        unique=True,
    )
    op.create_table(
        "payment_request_invoices",
        _id("payment_request_id"),
        _id("invoice_id"),
        sa.Column("position", sa.Integer(), nullable=False),
        _fk("payment_request_invoices", "payment_request_id", "payment_requests"),
        _fk("payment_request_invoices", "invoice_id", "invoices"),
        sa.PrimaryKeyConstraint(
            "payment_request_id", "invoice_id", name=op.f("pk_payment_request_invoices")
        ),
    )


def downgrade() -> None:
    op.drop_table("payment_request_invoices")
    op.drop_index("uq_payment_requests_dunning_attempt", table_name="payment_requests")
    op.drop_index(op.f("ix_payment_requests_customer_id"), table_name="payment_requests")
    op.drop_index("ix_payment_requests_org_created", table_name="payment_requests")
    op.drop_table("payment_requests")
    op.drop_index(op.f("ix_customer_dunning_organization_id"), table_name="customer_dunning")
    op.drop_table("customer_dunning")
    op.drop_index("ix_dunning_campaigns_org_code", table_name="dunning_campaigns")
    op.drop_table("dunning_campaigns")
