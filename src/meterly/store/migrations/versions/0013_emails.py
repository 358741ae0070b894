"""emails: the e-mail outbox, the organization's sender settings, customer opt-outs

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import meterly.store.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, meterly.store.types.AwareDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "emails",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=False),
        sa.Column("recipients", _Json, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("next_attempt_at", nullable=True),
        _at("lease_until", nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _at("sent_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_emails_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_emails_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emails")),
    )
    op.create_index("ix_emails_due", "emails", ["status", "next_attempt_at"], unique=False)
    op.create_index(
        "ix_emails_org_created", "emails", ["organization_id", "created_at"], unique=False
    )
    op.create_table(
        "mail_settings",
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("sender_name", sa.String(length=255), nullable=True),
        sa.Column("from_address", sa.String(length=255), nullable=True),
        sa.Column("reply_to", sa.String(length=255), nullable=True),
        sa.Column("cc", _Json, nullable=False),
        sa.Column("bcc", _Json, nullable=False),
        sa.Column("document_types", _Json, nullable=True),
        _at("updated_at"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_mail_settings_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_mail_settings")),
    )
    op.create_table(
        "mail_opt_outs",
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        _at("created_at"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_mail_opt_outs_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_mail_opt_outs_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_mail_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("mail_opt_outs")
    op.drop_table("mail_settings")
    op.drop_index("ix_emails_org_created", table_name="emails")
    op.drop_index("ix_emails_due", table_name="emails")
    op.drop_table("emails")
