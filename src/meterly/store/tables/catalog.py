"""The catalogue: taxes, billable metrics, plans, their charges and charge filters."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from meterly.store.tables.base import UUID, Base, Json, _live_unique
from meterly.store.types import ExactDecimal

_LIVE_PARENT = text("deleted_at IS NULL AND parent_id IS NULL")


class Tax(Base):
    __tablename__ = "taxes"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str]
    name: Mapped[str]
    rate: Mapped[Decimal]
    description: Mapped[str | None] = mapped_column(Text)
    applied_to_organization: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BillableMetricRow(Base):
    __tablename__ = "billable_metrics"
    __table_args__ = (_live_unique("uq_billable_metrics_code", "organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    code: Mapped[str]
    name: Mapped[str]
    description: Mapped[str | None] = mapped_column(Text)
    aggregation_type: Mapped[str] = mapped_column(String(32))
    field_name: Mapped[str | None]
    recurring: Mapped[bool] = mapped_column(Boolean, default=False)
    rounding_function: Mapped[str | None] = mapped_column(String(8))
    rounding_precision: Mapped[int | None]
    weighted_interval: Mapped[str | None] = mapped_column(String(16))
    expression: Mapped[str | None] = mapped_column(Text)
    # [{"key": "region", "values": ["eu", "us"]}]
    filters: Mapped[list[Any]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        # Unique among live parent plans: an overridden plan keeps its parent's code.
        Index(
            "uq_plans_code",
            "organization_id",
            "code",
            unique=True,
            sqlite_where=_LIVE_PARENT,
            postgresql_where=_LIVE_PARENT,
        ),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    # Overridden plans (subscription plan_overrides) are hidden children of a parent plan.
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id"))
    code: Mapped[str]
    name: Mapped[str]
    invoice_display_name: Mapped[str | None]
    description: Mapped[str | None] = mapped_column(Text)
    interval: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    trial_period: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    bill_charges_monthly: Mapped[bool | None]
    tax_codes: Mapped[list[Any]] = mapped_column(Json, default=list)
    # {"amount_cents": 10000, "invoice_display_name": ..., "tax_codes": [...], "lago_id": ...}
    minimum_commitment: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # [{"lago_id", "amount_cents", "threshold_display_name", "recurring"}]
    usage_thresholds: Mapped[list[Any]] = mapped_column(Json, default=list)
    plan_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", Json)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    charges: Mapped[list[Charge]] = relationship(
        back_populates="plan",
        order_by="Charge.position",
        primaryjoin="and_(Plan.id == Charge.plan_id, Charge.deleted_at.is_(None))",
        viewonly=True,
        lazy="selectin",
    )


class Charge(Base):
    __tablename__ = "charges"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    billable_metric_id: Mapped[str] = mapped_column(ForeignKey("billable_metrics.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str]
    charge_model: Mapped[str] = mapped_column(String(32))
    invoice_display_name: Mapped[str | None]
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    prorated: Mapped[bool] = mapped_column(Boolean, default=False)
    invoiceable: Mapped[bool] = mapped_column(Boolean, default=True)
    # Events may name the wallet that pays this charge (`target_wallet_code`).
    accepts_target_wallet: Mapped[bool] = mapped_column(Boolean, default=False)
    regroup_paid_fees: Mapped[str | None] = mapped_column(String(16))
    min_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    tax_codes: Mapped[list[Any]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    plan: Mapped[Plan] = relationship(back_populates="charges", viewonly=True)
    billable_metric: Mapped[BillableMetricRow] = relationship(lazy="joined", viewonly=True)
    filters: Mapped[list[ChargeFilter]] = relationship(
        primaryjoin="and_(Charge.id == ChargeFilter.charge_id, ChargeFilter.deleted_at.is_(None))",
        order_by="ChargeFilter.created_at",
        viewonly=True,
        lazy="selectin",
    )


class ChargeFilter(Base):
    __tablename__ = "charge_filters"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    charge_id: Mapped[str] = mapped_column(ForeignKey("charges.id"), index=True)
    invoice_display_name: Mapped[str | None]
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # {"region": ["eu"], "cloud": ["__ALL_FILTER_VALUES__"]}
    values: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
