"""Invoices, the subscription periods they bill, their fees, and document numbering."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from meterly.store.tables.base import UUID, Base, Json
from meterly.store.types import ExactDecimal


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_customer", "organization_id", "customer_id", "issuing_date"),
        # One document number per organization once finalized (drafts have none).
        Index(
            "uq_invoices_number",
            "organization_id",
            "number",
            unique=True,
            sqlite_where=text("number IS NOT NULL"),
            postgresql_where=text("number IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    # The seller (billing entity) of a finalized invoice; None: the organization itself.
    billing_entity_code: Mapped[str | None]
    # subscription | add_on | credit | one_off | advance_charges | progressive_billing
    invoice_type: Mapped[str] = mapped_column(String(32))
    # draft | finalized | voided | failed
    status: Mapped[str] = mapped_column(String(16))
    # pending | succeeded | failed
    payment_status: Mapped[str] = mapped_column(String(16), default="pending")
    currency: Mapped[str] = mapped_column(String(3))
    number: Mapped[str | None] = mapped_column(String(64))
    sequential_id: Mapped[int | None]
    issuing_date: Mapped[datetime]
    payment_due_date: Mapped[datetime]
    net_payment_term: Mapped[int] = mapped_column(Integer, default=0)
    fees_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    coupons_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    progressive_billing_credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    sub_total_excluding_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    sub_total_including_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_notes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    prepaid_credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_paid_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # Every step of the waterfall, kept so the invoice, its PDF and webhook show each line:
    # {"applied_taxes": [...], "credits": [...], "wallets": [...]}
    breakdown: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    invoice_metadata: Mapped[list[Any]] = mapped_column("metadata", Json, default=list)
    file_path: Mapped[str | None] = mapped_column(String(512))
    # Seller, buyer and custom sections as they stood when the invoice was issued (0014):
    # documents print these, so a later change of address never rewrites an issued invoice.
    document_snapshot: Mapped[dict[str, Any] | None] = mapped_column(Json)
    payment_overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    # Draft invoices stay open for late events until this instant (the grace period).
    finalize_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    finalized_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    fees: Mapped[list[Fee]] = relationship(
        order_by="Fee.position",
        lazy="selectin",
        viewonly=True,
        primaryjoin="and_(Invoice.id == Fee.invoice_id, Fee.deleted_at.is_(None))",
    )
    periods: Mapped[list[InvoiceSubscription]] = relationship(lazy="selectin", viewonly=True)


class InvoiceSubscription(Base):
    """The period of one subscription an invoice bills: its idempotency key.

    The unique (subscription, boundary, reason) key makes a billing run safe to repeat or
    to run on several workers at once: a second insert of the same period fails and the
    second unit of work rolls back whole.
    """

    __tablename__ = "invoice_subscriptions"
    __table_args__ = (
        # Pay-in-advance invoices are keyed by their fee's event instead (see Fee).
        Index(
            "uq_invoice_subscriptions_period",
            "subscription_id",
            "boundary",
            "invoicing_reason",
            unique=True,
            sqlite_where=text("invoicing_reason <> 'in_advance_charge'"),
            postgresql_where=text("invoicing_reason <> 'in_advance_charge'"),
        ),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("subscriptions.id"))
    boundary: Mapped[datetime]
    # subscription_periodic | subscription_starting | subscription_terminating |
    # in_advance_charge | progressive_billing
    invoicing_reason: Mapped[str] = mapped_column(String(32))
    from_datetime: Mapped[datetime | None]
    to_datetime: Mapped[datetime | None]
    charges_from_datetime: Mapped[datetime | None]
    charges_to_datetime: Mapped[datetime | None]
    created_at: Mapped[datetime]

    # Never loaded nor set (the id is): its one use is to order the unit of work, so an
    # invoice and its keys and fees can be written by one flush, the invoice first.
    invoice_row: Mapped[Invoice] = relationship(lazy="raise", viewonly=False)


class Fee(Base):
    __tablename__ = "fees"
    __table_args__ = (
        Index("ix_fees_subscription", "subscription_id", "charge_id"),
        # One pay-in-advance fee per event and charge: processing an event twice is a no-op.
        Index(
            "uq_fees_advance_event",
            "subscription_id",
            "charge_id",
            "event_transaction_id",
            unique=True,
            sqlite_where=text("event_transaction_id IS NOT NULL"),
            postgresql_where=text("event_transaction_id IS NOT NULL"),
        ),
        Index("ix_fees_org_created", "organization_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    # Copies, without foreign keys (migration 0031): the subscription or the invoice the
    # fee belongs to references them already, and each key is a check per fee inserted.
    organization_id: Mapped[str] = mapped_column(UUID)
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[str] = mapped_column(UUID)
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    charge_id: Mapped[str | None] = mapped_column(ForeignKey("charges.id"))
    charge_filter_id: Mapped[str | None] = mapped_column(ForeignKey("charge_filters.id"))
    # A spending-minimum true-up fee points at the fee it tops up.
    true_up_parent_fee_id: Mapped[str | None] = mapped_column(ForeignKey("fees.id"))
    add_on_id: Mapped[str | None] = mapped_column(UUID)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # subscription | charge | add_on | credit | commitment
    fee_type: Mapped[str] = mapped_column(String(16))
    # item: {"type", "code", "name", "description", "invoice_display_name", "filters",
    #        "filter_invoice_display_name", "lago_item_id", "item_type", "grouped_by"}
    item: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    pay_in_advance: Mapped[bool] = mapped_column(Boolean, default=False)
    invoiceable: Mapped[bool] = mapped_column(Boolean, default=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    precise_amount_cents: Mapped[Decimal]
    unit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_unit_amount: Mapped[Decimal]
    units: Mapped[Decimal]
    total_aggregated_units: Mapped[Decimal | None]
    events_count: Mapped[int | None]
    precise_coupons_amount_cents: Mapped[Decimal] = mapped_column(
        ExactDecimal(), default=Decimal(0)
    )
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    taxes_precise_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    taxes_rate: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    # [{"tax_code", "tax_name", "tax_rate", "amount_cents", "precise_amount_cents"}]
    applied_taxes: Mapped[list[Any]] = mapped_column(Json, default=list)
    # Lago's amount_details, and Meterly's explanation: tiers, unit prices, event counts.
    amount_details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    explanation: Mapped[list[Any]] = mapped_column(Json, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    event_transaction_id: Mapped[str | None]
    payment_status: Mapped[str] = mapped_column(String(16), default="pending")
    from_datetime: Mapped[datetime | None]
    to_datetime: Mapped[datetime | None]
    succeeded_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    # As `InvoiceSubscription.invoice_row`: orders the flush, never loaded nor set.
    invoice_row: Mapped[Invoice | None] = relationship(lazy="raise", viewonly=False)


class DocumentSequence(Base):
    """Counters behind sequential numbers (customers, invoices, credit notes), bumped under a
    row lock so numbers never repeat (store/sequences.py)."""

    __tablename__ = "document_sequences"

    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    # "org:<YYYYMM>" for per-organization numbering, "customer:<id>" per customer,
    # "cn:<invoice id>" for credit notes, "customers" for customers' sequential ids.
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)
