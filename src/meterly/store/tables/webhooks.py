"""Webhook endpoints and the webhook outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (UniqueConstraint("organization_id", "webhook_url"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    webhook_url: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str | None]
    signature_algo: Mapped[str] = mapped_column(String(8), default="hmac")
    # None: every event type.
    event_types: Mapped[list[Any] | None] = mapped_column(Json)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Webhook(Base):
    """The outbox: written in the same transaction as the change it announces."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    webhook_endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    webhook_type: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(UUID)
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    # pending | retrying | succeeded | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    retries: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None]
    response: Mapped[str | None] = mapped_column(Text)
    # [{"at", "http_status", "error", "duration_ms"}]
    attempts: Mapped[list[Any]] = mapped_column(Json, default=list)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
