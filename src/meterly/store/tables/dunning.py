"""Dunning: campaigns an organization runs against overdue balances, and payment requests.

A payment request groups a customer's overdue invoices into one demand (an e-mail, a
collection attempt per invoice). A dunning campaign's worker pass creates one per attempt;
the unique key (campaign, customer, attempt) means two workers create it once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class DunningCampaign(Base):
    """Lago's dunning campaign: when and how often an overdue balance is asked for."""

    __tablename__ = "dunning_campaigns"
    __table_args__ = (Index("ix_dunning_campaigns_org_code", "organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    # The organization's default: applied to every customer not given another or excluded.
    applied_to_organization: Mapped[bool] = mapped_column(Boolean, default=False)
    days_between_attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    # [{"currency": "EUR", "amount_cents": 1000}]: an overdue balance at or above starts it.
    thresholds: Mapped[list[Any]] = mapped_column(Json, default=list)
    bcc_emails: Mapped[list[Any]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class CustomerDunning(Base):
    """A customer's place in dunning: its campaign (or exclusion) and the attempts made."""

    __tablename__ = "customer_dunning"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    # An explicit campaign; None follows the organization's default.
    applied_campaign_id: Mapped[str | None] = mapped_column(ForeignKey("dunning_campaigns.id"))
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None]
    # The campaign ran out of attempts and `dunning_campaign.finished` was sent.
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class PaymentRequest(Base):
    """Lago's payment request: several overdue invoices asked for at once."""

    __tablename__ = "payment_requests"
    __table_args__ = (
        Index("ix_payment_requests_org_created", "organization_id", "created_at"),
        # One request per campaign attempt and customer, whatever the number of workers.
        # Manual requests have no campaign: NULLs never collide, on either backend.
        Index(
            "uq_payment_requests_dunning_attempt",
            "dunning_campaign_id",
            "customer_id",
            "dunning_attempt",
            unique=True,
        ),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(255))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # pending | succeeded | failed
    payment_status: Mapped[str] = mapped_column(String(16))
    dunning_campaign_id: Mapped[str | None] = mapped_column(ForeignKey("dunning_campaigns.id"))
    dunning_attempt: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaymentRequestInvoice(Base):
    __tablename__ = "payment_request_invoices"

    payment_request_id: Mapped[str] = mapped_column(
        ForeignKey("payment_requests.id"), primary_key=True
    )
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
