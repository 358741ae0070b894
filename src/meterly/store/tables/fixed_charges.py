"""Fixed charges: recurring add-on fees of a plan (a platform fee, seats), and the units
timeline of each subscription (Lago's fixed charge events)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class FixedCharge(Base):
    __tablename__ = "fixed_charges"
    __table_args__ = (Index("ix_fixed_charges_plan_id", "plan_id"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    add_on_id: Mapped[str] = mapped_column(ForeignKey("add_ons.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Unique among the plan's live fixed charges; stable across a plan override's copy,
    # so a subscription's units timeline (keyed by code) survives its plan override.
    code: Mapped[str]
    charge_model: Mapped[str] = mapped_column(String(32))
    invoice_display_name: Mapped[str | None]
    units: Mapped[Decimal]
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    prorated: Mapped[bool] = mapped_column(Boolean, default=False)
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    tax_codes: Mapped[list[Any]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class FixedChargeUnits(Base):
    """A subscription's units of a fixed charge from `effective_at` on (until the next row).

    Lago's fixed charge events: a units change applied immediately starts now; one
    applied at the next billing period starts at that boundary. Without any row the
    plan's units apply.
    """

    __tablename__ = "fixed_charge_units"
    __table_args__ = (
        Index("ix_fixed_charge_units_subscription", "subscription_id", "fixed_charge_code"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    fixed_charge_code: Mapped[str]
    units: Mapped[Decimal]
    effective_at: Mapped[datetime]
    created_at: Mapped[datetime]
