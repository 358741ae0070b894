"""Tenancy: organizations and their API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    name: Mapped[str]
    default_currency: Mapped[str] = mapped_column(String(3), default="USD")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    net_payment_term: Mapped[int] = mapped_column(Integer, default=0)
    invoice_grace_period: Mapped[int] = mapped_column(Integer, default=0)
    document_numbering: Mapped[str] = mapped_column(String(32), default="per_customer")
    document_number_prefix: Mapped[str] = mapped_column(String(16))
    finalize_zero_amount_invoice: Mapped[bool] = mapped_column(Boolean, default=True)
    hmac_key: Mapped[str] = mapped_column(String(64))
    webhook_url: Mapped[str | None]
    # Lago's e-invoicing switch: finalized documents also come as Factur-X/XRechnung/UBL XML.
    einvoicing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Webhook endpoints may point at loopback/private addresses (services/notifications/
    # url_guard.py): off by default, against server-side request forgery.
    allow_private_webhook_urls: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Events timestamped in a period already invoiced: stored and flagged either way; when
    # on, the next correction run bills them (services/corrections).
    accept_late_events: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Address, legal and contact fields: echoed on the wire, never used by billing rules.
    profile: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    billing_configuration: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    # sha256 of the secret: the secret itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
