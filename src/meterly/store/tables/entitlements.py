"""Features, their privileges, and the entitlements plans grant and subscriptions override."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class Feature(Base):
    __tablename__ = "features"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str]
    name: Mapped[str | None]
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FeaturePrivilege(Base):
    __tablename__ = "feature_privileges"
    __table_args__ = (UniqueConstraint("feature_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    feature_id: Mapped[str] = mapped_column(ForeignKey("features.id"))
    code: Mapped[str]
    name: Mapped[str | None]
    value_type: Mapped[str] = mapped_column(String(16))
    # The order privileges were added in (several arrive in one request, at one instant).
    position: Mapped[int] = mapped_column(Integer)
    # {"select_options": [...]} as Lago; Meterly adds {"billable_metric_code": ...}.
    config: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime]


class PlanEntitlement(Base):
    """A feature a plan grants, with the values it gives the feature's privileges."""

    __tablename__ = "plan_entitlements"
    __table_args__ = (UniqueConstraint("plan_id", "feature_id"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    feature_id: Mapped[str] = mapped_column(ForeignKey("features.id"), index=True)
    # {privilege_code: value}
    privilege_values: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SubscriptionEntitlement(Base):
    """A subscription's own values for a feature, or its removal of a feature of its plan."""

    __tablename__ = "subscription_entitlements"
    __table_args__ = (UniqueConstraint("subscription_id", "feature_id"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    feature_id: Mapped[str] = mapped_column(ForeignKey("features.id"), index=True)
    privilege_values: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # True: the plan grants the feature but this subscription does not have it.
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
