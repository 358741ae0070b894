"""billing runs and their claimable batches

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 01:30:00

Several workers share one billing run: its batches of subscriptions are claimed under a
lease (FOR UPDATE SKIP LOCKED on PostgreSQL, a compare-and-set update on SQLite).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=36), nullable=False),
        sa.Column("open_scope", sa.String(length=36), nullable=True),
        sa.Column("as_of", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("subscriptions", sa.Integer(), nullable=False),
        sa.Column("created_at", meterly.store.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_runs")),
        sa.UniqueConstraint("open_scope", name=op.f("uq_billing_runs_open_scope")),
    )
    op.create_table(
        "billing_run_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "subscription_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("holder", sa.String(length=160), nullable=True),
        sa.Column("lease_until", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("done_at", meterly.store.types.AwareDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["billing_runs.id"], name=op.f("fk_billing_run_batches_run_id_billing_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_run_batches")),
        sa.UniqueConstraint(
            "run_id", "position", name=op.f("uq_billing_run_batches_run_id_position")
        ),
    )
    with op.batch_alter_table("billing_run_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_run_batches_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("billing_run_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_run_batches_run_id"))
    op.drop_table("billing_run_batches")
    op.drop_table("billing_runs")
