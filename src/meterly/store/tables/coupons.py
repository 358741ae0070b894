"""Coupons, applied coupons, their invoice credits, and add-ons.

Mapped on the same `Base` (and metadata) as every table (`tables/base.py`); migration 0004
creates them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json, _live_unique


class CouponRow(Base):
    __tablename__ = "coupons"
    __table_args__ = (_live_unique("uq_coupons_code", "organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    code: Mapped[str]
    name: Mapped[str]
    description: Mapped[str | None] = mapped_column(Text)
    # fixed_amount | percentage
    coupon_type: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_currency: Mapped[str | None] = mapped_column(String(3))
    percentage_rate: Mapped[Decimal | None]
    # once | recurring | forever
    frequency: Mapped[str] = mapped_column(String(16))
    frequency_duration: Mapped[int | None] = mapped_column(Integer)
    # no_expiration | time_limit
    expiration: Mapped[str] = mapped_column(String(16))
    expiration_at: Mapped[datetime | None]
    reusable: Mapped[bool] = mapped_column(Boolean, default=True)
    plan_codes: Mapped[list[Any]] = mapped_column(Json, default=list)
    billable_metric_codes: Mapped[list[Any]] = mapped_column(Json, default=list)
    # active | terminated
    status: Mapped[str] = mapped_column(String(16), default="active")
    terminated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class AppliedCouponRow(Base):
    """A coupon applied to a customer, with its (possibly overridden) terms and what is left."""

    __tablename__ = "applied_coupons"
    __table_args__ = (Index("ix_applied_coupons_customer", "customer_id", "status"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    # active | terminated
    status: Mapped[str] = mapped_column(String(16), default="active")
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_currency: Mapped[str | None] = mapped_column(String(3))
    percentage_rate: Mapped[Decimal | None]
    frequency: Mapped[str] = mapped_column(String(16))
    frequency_duration: Mapped[int | None] = mapped_column(Integer)
    frequency_duration_remaining: Mapped[int | None] = mapped_column(Integer)
    # `once` fixed coupons: None until first used (the whole amount is left).
    amount_cents_remaining: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    terminated_at: Mapped[datetime | None]


class CouponCredit(Base):
    """What one applied coupon took off one finalized invoice (Lago's coupon credit)."""

    __tablename__ = "coupon_credits"
    __table_args__ = (
        Index("uq_coupon_credits_invoice", "applied_coupon_id", "invoice_id", unique=True),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    applied_coupon_id: Mapped[str] = mapped_column(ForeignKey("applied_coupons.id"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]


class AddOnRow(Base):
    __tablename__ = "add_ons"
    __table_args__ = (_live_unique("uq_add_ons_code", "organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    code: Mapped[str]
    name: Mapped[str]
    invoice_display_name: Mapped[str | None]
    description: Mapped[str | None] = mapped_column(Text)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    amount_currency: Mapped[str] = mapped_column(String(3))
    tax_codes: Mapped[list[Any]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
