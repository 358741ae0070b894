"""Activation rules: a subscription that waits for its first payment before it runs (0029).

Lago's `activation_rules[{type: "payment", timeout_hours}]`: a `payment` rule keeps a new
subscription `incomplete` until the invoice of its start is paid; the rule records how
that went (`status`) and when waiting ends (`expires_at`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base


class SubscriptionActivationRule(Base):
    __tablename__ = "subscription_activation_rules"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    # Lago's `type`: only `payment` exists.
    rule_type: Mapped[str] = mapped_column(String(16))
    # None (or 0): the subscription waits for its payment without a deadline.
    timeout_hours: Mapped[int | None]
    # inactive | pending | satisfied | declined | failed | expired | not_applicable
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
