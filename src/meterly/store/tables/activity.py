"""Audit logs: every change to a business object (activity logs) and every API write (API logs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class ActivityLog(Base):
    __tablename__ = "activity_logs"
    __table_args__ = (
        Index("ix_activity_logs_organization_id_logged_at", "organization_id", "logged_at"),
        Index("ix_activity_logs_resource_id", "resource_id"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    # No foreign keys: the log outlives what it describes and must never block a delete.
    organization_id: Mapped[str] = mapped_column(UUID)
    activity_type: Mapped[str] = mapped_column(String(64))
    # Lago's api | front | system: where the change came from.
    activity_source: Mapped[str] = mapped_column(String(16))
    # Who: api_key | user | system, and the key's or the user's id.
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(UUID)
    user_email: Mapped[str | None] = mapped_column(String(255))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(UUID)
    external_customer_id: Mapped[str | None] = mapped_column(String(255))
    external_subscription_id: Mapped[str | None] = mapped_column(String(255))
    activity_object: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # {field: [before, after]} of the fields that changed.
    activity_object_changes: Mapped[dict[str, Any] | None] = mapped_column(Json)
    logged_at: Mapped[datetime]
    created_at: Mapped[datetime]


class ApiLog(Base):
    __tablename__ = "api_logs"
    __table_args__ = (
        Index("ix_api_logs_organization_id_logged_at", "organization_id", "logged_at"),
    )

    request_id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(UUID)
    api_key_id: Mapped[str | None] = mapped_column(UUID)
    api_version: Mapped[str] = mapped_column(String(8))
    client: Mapped[str] = mapped_column(String(255))
    http_method: Mapped[str] = mapped_column(String(8))
    http_status: Mapped[int] = mapped_column(Integer)
    request_origin: Mapped[str] = mapped_column(String(255))
    request_path: Mapped[str] = mapped_column(String(1024))
    # The JSON body with every secret-looking field replaced; the response is not kept.
    request_body: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    logged_at: Mapped[datetime]
    created_at: Mapped[datetime]
