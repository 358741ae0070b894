"""Every table of Meterly, in SQLAlchemy Core. Alembic migrations are written from these."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, MetaData, String, Table
from sqlalchemy.dialects.postgresql import JSONB

from meterly.store.types import AwareDateTime, ExactDecimal

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Json = JSON().with_variant(JSONB(), "postgresql")

# Events are appended, never updated. Idempotency is Lago's: one event per
# (organization, external subscription, transaction id); the unique index leads with the
# transaction id so `GET /events/{transaction_id}` uses it too. The second index serves
# the usage queries: one subscription, one metric code, a time window.
events = Table(
    "events",
    metadata,
    Column("organization_id", String(36), nullable=False),
    Column("transaction_id", String(255), nullable=False),
    Column("external_subscription_id", String(255), nullable=False),
    Column("code", String(255), nullable=False),
    Column("timestamp", AwareDateTime(), nullable=False),
    Column("properties", Json, nullable=False),
    Column("precise_total_amount_cents", ExactDecimal(), nullable=True),
    Column("lago_id", String(36), nullable=False),
    Column("created_at", AwareDateTime(), nullable=False),
    Index(
        "uq_events_idempotency",
        "organization_id",
        "transaction_id",
        "external_subscription_id",
        unique=True,
    ),
    Index(
        "ix_events_usage",
        "organization_id",
        "external_subscription_id",
        "code",
        "timestamp",
    ),
)
