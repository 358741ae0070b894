"""The usage events table: Core, not ORM-mapped, so ingestion and aggregation stay fast."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from meterly.store.tables.base import UUID, Json, metadata
from meterly.store.types import AwareDateTime, ExactDecimal

# Events are appended, and updated only by a correction (void, amend: services/corrections).
# Idempotency is Lago's: one event per
# (organization, external subscription, transaction id); the unique index leads with the
# transaction id so `GET /events/{transaction_id}` uses it too. The second index serves
# the usage queries: one subscription, one metric code, a time window.
events = Table(
    "events",
    metadata,
    Column("organization_id", UUID, nullable=False),
    Column("transaction_id", String(255), nullable=False),
    Column("external_subscription_id", String(255), nullable=False),
    Column("code", String(255), nullable=False),
    Column("timestamp", AwareDateTime(), nullable=False),
    Column("properties", Json, nullable=False),
    Column("precise_total_amount_cents", ExactDecimal(), nullable=True),
    Column("lago_id", UUID, nullable=False),
    Column("created_at", AwareDateTime(), nullable=False),
    # Corrections (0027): a voided event keeps its row and stops counting everywhere; an
    # amended one is rewritten in place, its former values kept in `event_corrections`.
    Column("voided_at", AwareDateTime(), nullable=True),
    Column("amended_at", AwareDateTime(), nullable=True),
    Index(
        "uq_events_idempotency",
        "organization_id",
        "transaction_id",
        "external_subscription_id",
        unique=True,
    ),
    Index("ix_events_usage", "organization_id", "external_subscription_id", "code", "timestamp"),
)
