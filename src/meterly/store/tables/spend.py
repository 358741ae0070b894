"""Spend control: progressive-billing threshold crossings, lifetime usage, usage alerts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json
from meterly.store.types import ExactDecimal


class LifetimeUsage(Base):
    """Usage a subscription has run up since it started (plus what came from elsewhere)."""

    __tablename__ = "lifetime_usages"

    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), primary_key=True)
    id: Mapped[str] = mapped_column(UUID, unique=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    # Usage billed before the subscription came to Meterly, set through the API.
    external_historical_usage_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UsageThresholdCrossing(Base):
    """A progressive-billing threshold reached: its key makes the invoice happen once.

    `crossing_key` is the threshold's lago_id for a one-off threshold, and
    "<lago_id>:<n>" for the n-th repetition of a recurring one.
    """

    __tablename__ = "usage_threshold_crossings"
    __table_args__ = (UniqueConstraint("subscription_id", "crossing_key"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    threshold_id: Mapped[str] = mapped_column(UUID)
    crossing_key: Mapped[str] = mapped_column(String(80))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    lifetime_usage_amount_cents: Mapped[int] = mapped_column(BigInteger)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    created_at: Mapped[datetime]


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_subscription", "organization_id", "external_subscription_id"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    external_subscription_id: Mapped[str | None]
    wallet_id: Mapped[str | None] = mapped_column(UUID)
    alert_type: Mapped[str] = mapped_column(String(48))
    code: Mapped[str]
    name: Mapped[str | None]
    billable_metric_id: Mapped[str | None] = mapped_column(ForeignKey("billable_metrics.id"))
    # [{"code": str|None, "value": "<decimal>", "recurring": bool}]
    thresholds: Mapped[list[Any]] = mapped_column(Json, default=list)
    direction: Mapped[str] = mapped_column(String(16), default="increasing")
    previous_value: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    last_processed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class TriggeredAlert(Base):
    """One crossing of an alert's threshold in one period: each is reported once."""

    __tablename__ = "triggered_alerts"
    __table_args__ = (UniqueConstraint("alert_id", "period_key", "threshold_key"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    period_key: Mapped[str] = mapped_column(String(64))
    threshold_key: Mapped[str] = mapped_column(String(80))
    current_value: Mapped[Decimal]
    previous_value: Mapped[Decimal]
    crossed_thresholds: Mapped[list[Any]] = mapped_column(Json, default=list)
    triggered_at: Mapped[datetime]
