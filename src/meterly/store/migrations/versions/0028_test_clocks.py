"""test clocks (a frozen instant per clock; customers attached to it)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import meterly.store.types

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str) -> sa.Column[object]:
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "test_clocks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        _at("frozen_time"),
        sa.Column("status", sa.String(length=16), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_test_clocks_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_clocks")),
    )
    op.create_index(op.f("ix_test_clocks_organization_id"), "test_clocks", ["organization_id"])
    # SQLite cannot add a foreign key with ALTER: the batch copies the table.
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("test_clock_id", sa.String(length=36), nullable=True))
        batch.create_foreign_key(
            op.f("fk_customers_test_clock_id_test_clocks"),
            "test_clocks",
            ["test_clock_id"],
            ["id"],
        )
        batch.create_index(op.f("ix_customers_test_clock_id"), ["test_clock_id"])


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_index(op.f("ix_customers_test_clock_id"))
        batch.drop_constraint(op.f("fk_customers_test_clock_id_test_clocks"), type_="foreignkey")
        batch.drop_column("test_clock_id")
    op.drop_index(op.f("ix_test_clocks_organization_id"), table_name="test_clocks")
    op.drop_table("test_clocks")
