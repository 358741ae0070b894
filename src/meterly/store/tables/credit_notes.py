"""Credit notes and their items (migration 0006).

A credit note gives back part of a finalized invoice's fees, as a credit (a balance the
customer's next invoices consume), a refund, or an offset of what the invoice still asks.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from meterly.store.tables.base import UUID, Base, Json
from meterly.store.types import ExactDecimal


class CreditNote(Base):
    __tablename__ = "credit_notes"
    __table_args__ = (
        Index("ix_credit_notes_customer", "organization_id", "customer_id", "created_at"),
        Index("ix_credit_notes_available", "customer_id", "credit_status", "currency"),
        Index("uq_credit_notes_number", "organization_id", "number", unique=True),
        # One automatic credit note per terminated subscription: a repeated call is a no-op.
        Index(
            "uq_credit_notes_termination",
            "terminated_subscription_id",
            unique=True,
            sqlite_where=text("terminated_subscription_id IS NOT NULL"),
            postgresql_where=text("terminated_subscription_id IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    terminated_subscription_id: Mapped[str | None] = mapped_column(ForeignKey("subscriptions.id"))
    sequential_id: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(80))
    issuing_date: Mapped[datetime]
    # finalized (Lago also knows draft, for credit notes waiting on a provider)
    status: Mapped[str] = mapped_column(String(16), default="finalized")
    # available | consumed | voided; None when nothing was credited
    credit_status: Mapped[str | None] = mapped_column(String(16))
    # pending | succeeded | failed; None when nothing was refunded
    refund_status: Mapped[str | None] = mapped_column(String(16))
    # duplicated_charge | product_unsatisfactory | order_change | order_cancellation |
    # fraudulent_charge | other
    reason: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3))
    total_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_total_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal())
    taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_taxes_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal())
    taxes_rate: Mapped[Decimal] = mapped_column(ExactDecimal())
    sub_total_excluding_taxes_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    coupons_adjustment_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    precise_coupons_adjustment_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal())
    rounding_adjustment_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credit_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    balance_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    offset_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # [{"tax_code", "tax_name", "tax_rate", "tax_description", "amount_cents",
    #   "precise_amount_cents", "base_amount_cents"}]
    applied_taxes: Mapped[list[Any]] = mapped_column(Json, default=list)
    credit_note_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", Json, default=dict)
    file_path: Mapped[str | None] = mapped_column(String(512))
    # Seller and buyer as they stood when the note was issued (0014), as on invoices.
    document_snapshot: Mapped[dict[str, Any] | None] = mapped_column(Json)
    voided_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    items: Mapped[list[CreditNoteItem]] = relationship(
        order_by="CreditNoteItem.position", lazy="selectin", viewonly=True
    )


class CreditNoteItem(Base):
    __tablename__ = "credit_note_items"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    credit_note_id: Mapped[str] = mapped_column(ForeignKey("credit_notes.id"), index=True)
    fee_id: Mapped[str] = mapped_column(ForeignKey("fees.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    precise_amount_cents: Mapped[Decimal] = mapped_column(ExactDecimal())
    amount_currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]
