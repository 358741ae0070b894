"""Billing entities: the legal sellers of an organization beyond its own default one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class BillingEntity(Base):
    __tablename__ = "billing_entities"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str]
    name: Mapped[str]
    default_currency: Mapped[str] = mapped_column(String(3))
    document_numbering: Mapped[str] = mapped_column(String(32), default="per_customer")
    document_number_prefix: Mapped[str] = mapped_column(String(16))
    eu_tax_management: Mapped[bool] = mapped_column(Boolean, default=False)
    # Legal name and number, tax id, e-mail, address, logo, invoice footer, locale: shown on
    # the documents of the invoices it issues (the organization's profile fields).
    profile: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # Billing settings of the entity's customers; None takes the organization's value.
    net_payment_term: Mapped[int | None] = mapped_column(Integer, nullable=True)
    invoice_grace_period: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    einvoicing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    finalize_zero_amount_invoice: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # Lago's `email_settings` (which documents are e-mailed); None: the organization's.
    email_settings: Mapped[list[str] | None] = mapped_column(Json, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
