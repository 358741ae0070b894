"""Event corrections (0027): what was voided, amended or accepted late, and what it issued.

Events are never deleted. A voided event keeps its row (`events.voided_at`); an amended one
is rewritten in place (`events.amended_at`) with the values it had before kept here, so the
audit trail says who changed what and when, and which correction document carried it.
`fee_corrections` holds each correction document's signed change to one original fee: a
fee's amount as corrected is its own amount plus these, which makes a correction run
idempotent (what is already corrected is never corrected again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json


class EventCorrection(Base):
    __tablename__ = "event_corrections"
    __table_args__ = (
        # The usage cache's fingerprint counts corrections per (subscription, code).
        Index("ix_event_corrections_scope", "organization_id", "external_subscription_id", "code"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    transaction_id: Mapped[str] = mapped_column(String(255))
    external_subscription_id: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))
    # void | amend | late
    kind: Mapped[str] = mapped_column(String(16))
    before: Mapped[dict[str, Any] | None] = mapped_column(Json)
    after: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # "api_key:<id or key prefix>", "user:<email>" or "system".
    actor: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    # Set by the correction run that took this correction into account.
    applied_at: Mapped[datetime | None]
    original_invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    corrected_in_invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    credit_note_id: Mapped[str | None] = mapped_column(ForeignKey("credit_notes.id"))


class FeeCorrection(Base):
    __tablename__ = "fee_corrections"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    original_invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"))
    fee_id: Mapped[str] = mapped_column(ForeignKey("fees.id"), index=True)
    # Signed, before taxes: negative for a credit note item, positive for a correction fee.
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    credit_note_id: Mapped[str | None] = mapped_column(ForeignKey("credit_notes.id"))
    correction_invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    correction_fee_id: Mapped[str | None] = mapped_column(ForeignKey("fees.id"))
    created_at: Mapped[datetime]
