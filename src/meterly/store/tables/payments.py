"""Getting paid: provider connections, linked customers, payments, receipts, charge attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class PaymentProviderConnection(Base):
    """An organization's account at a payment provider (Lago's payment provider integration).

    The provider's secret key and webhook endpoint secret are stored encrypted with the
    installation's secret key (services/payments/secrets.py) and never answered by the API.
    """

    __tablename__ = "payment_provider_connections"
    __table_args__ = (
        Index("uq_payment_provider_connections_code", "organization_id", "code", unique=True),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    # stripe (the port takes more: a new provider is a new adapter module)
    provider: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None]
    secret_key_encrypted: Mapped[str] = mapped_column(Text)
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # The provider's API root; None is the provider's public API (a test server otherwise).
    api_base: Mapped[str | None] = mapped_column(String(255))
    publishable_key: Mapped[str | None] = mapped_column(String(255))
    success_redirect_url: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProviderCustomer(Base):
    """A customer linked to its customer at a payment provider (created on demand)."""

    __tablename__ = "provider_customers"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("payment_provider_connections.id"))
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    sync_with_provider: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Payment(Base):
    """Money received (or being collected) against an invoice: manual or through a provider."""

    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_org_created", "organization_id", "created_at"),
        # A provider's payment is one row however many webhooks and job runs report it.
        Index(
            "uq_payments_provider_payment",
            "organization_id",
            "provider_payment_id",
            unique=True,
            sqlite_where=text("provider_payment_id IS NOT NULL"),
            postgresql_where=text("provider_payment_id IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    # manual | provider
    payment_type: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # The provider's own status word (Stripe's PaymentIntent status; "succeeded" if manual).
    status: Mapped[str] = mapped_column(String(32))
    # Lago's normalized status: pending | processing | succeeded | failed
    payment_status: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(255))
    connection_id: Mapped[str | None] = mapped_column(ForeignKey("payment_provider_connections.id"))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    next_action: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaymentReceipt(Base):
    """The receipt of one successful payment, numbered from a per-organization counter."""

    __tablename__ = "payment_receipts"
    __table_args__ = (
        Index("uq_payment_receipts_number", "organization_id", "number", unique=True),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), unique=True)
    number: Mapped[str] = mapped_column(String(64))
    sequential_id: Mapped[int] = mapped_column(Integer)
    file_path: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime]


class ChargeAttempt(Base):
    """One try at collecting an invoice through its customer's provider: the worker's job row.

    (invoice, attempt) is unique: two workers finding the same finalized invoice create one
    attempt, and the attempt's idempotency key makes a re-run job charge once at the provider.
    """

    __tablename__ = "charge_attempts"
    __table_args__ = (
        Index("uq_charge_attempts_invoice_attempt", "invoice_id", "attempt", unique=True),
        Index("ix_charge_attempts_due", "state", "run_at"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    # queued | running | done
    state: Mapped[str] = mapped_column(String(16))
    run_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    # What the provider answered: succeeded | processing | requires_action | failed | error
    outcome: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ProviderEvent(Base):
    """An inbound provider webhook already applied: the same event id is applied once."""

    __tablename__ = "provider_events"

    connection_id: Mapped[str] = mapped_column(
        ForeignKey("payment_provider_connections.id"), primary_key=True
    )
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime]
