"""Customers and their subscriptions (a subscription puts a customer on a plan)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from meterly.store.tables.activation_rules import SubscriptionActivationRule
from meterly.store.tables.base import UUID, Base, Json, _live_unique
from meterly.store.tables.catalog import Plan


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        _live_unique("uq_customers_external_id", "organization_id", "external_id"),
        # Deleted customers keep theirs: a number is never handed out twice (0010).
        Index("uq_customers_sequential_id", "organization_id", "sequential_id", unique=True),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    external_id: Mapped[str]
    sequential_id: Mapped[int] = mapped_column(Integer)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None]
    email: Mapped[str | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    timezone: Mapped[str | None] = mapped_column(String(64))
    net_payment_term: Mapped[int | None]
    invoice_grace_period: Mapped[int | None]
    finalize_zero_amount_invoice: Mapped[str] = mapped_column(String(16), default="inherit")
    tax_codes: Mapped[list[Any]] = mapped_column(Json, default=list)
    # Lago's free fields (address, legal, contact, shipping address, ...) echoed as sent.
    profile: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    billing_configuration: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # [{"lago_id", "key", "value", "display_in_invoice", "created_at"}]
    customer_metadata: Mapped[list[Any]] = mapped_column("metadata", Json, default=list)
    # Print no invoice custom section at all for this customer (0014).
    skip_invoice_custom_sections: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # The test clock the customer lives under (0028); never changes once created.
    test_clock_id: Mapped[str | None] = mapped_column(ForeignKey("test_clocks.id"), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_external", "organization_id", "external_id", "status"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"))
    external_id: Mapped[str]
    name: Mapped[str | None]
    # pending | incomplete | active | terminated | canceled
    status: Mapped[str] = mapped_column(String(16))
    billing_time: Mapped[str] = mapped_column(String(16))
    subscription_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ending_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
    trial_ended_at: Mapped[datetime | None]
    # When the last `subscription.termination_alert` was sent (45 and 15 days ahead).
    termination_alerted_at: Mapped[datetime | None]
    # An upgrade/downgrade chain: the subscription this one replaced.
    previous_subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    on_termination_credit_note: Mapped[str | None] = mapped_column(String(16))
    on_termination_invoice: Mapped[str] = mapped_column(String(16), default="generate")
    progressive_billing_disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Lago's consolidate_invoice: billed on one invoice with the customer's other
    # subscriptions due at the same boundary (true), or always on its own invoice (0011).
    consolidate_invoice: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    usage_thresholds: Mapped[list[Any]] = mapped_column(Json, default=list)
    # Last billing boundary invoiced by the billing clock (None before the first one).
    last_billed_boundary: Mapped[datetime | None]
    # A subscription gated by an activation rule: when its first payment activated it,
    # or why it was canceled before (payment_failed | timeout) (0029).
    activated_at: Mapped[datetime | None]
    cancellation_reason: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    customer: Mapped[Customer] = relationship(lazy="joined", viewonly=True)
    plan: Mapped[Plan] = relationship(lazy="joined", viewonly=True)
    # Read only when shown (the API, webhooks): the billing run never touches them.
    activation_rules: Mapped[list[SubscriptionActivationRule]] = relationship(
        lazy="select", viewonly=True, order_by="SubscriptionActivationRule.created_at"
    )
