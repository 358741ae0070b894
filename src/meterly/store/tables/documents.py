"""What documents print besides the billing figures: invoice custom sections.

A section is a block of text (bank details, legal mentions) printed at the foot of
invoices. The organization applies some to every customer; a customer may pick its own
or skip them all. What an invoice printed is frozen on the invoice when it is issued
(`Invoice.document_snapshot`), so editing a section never rewrites an issued document.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base


class InvoiceCustomSection(Base):
    __tablename__ = "invoice_custom_sections"
    __table_args__ = (UniqueConstraint("organization_id", "code"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    # The text printed on the document, under `display_name` as its heading.
    details: Mapped[str | None] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(String(255))
    # Printed for every customer that made no choice of its own (Lago's organization default).
    applied_to_organization: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CustomerInvoiceCustomSection(Base):
    """A customer's own choice of sections, replacing the organization's defaults."""

    __tablename__ = "customer_invoice_custom_sections"
    __table_args__ = (UniqueConstraint("customer_id", "invoice_custom_section_id"),)

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_custom_section_id: Mapped[str] = mapped_column(
        ForeignKey("invoice_custom_sections.id"), index=True
    )
    created_at: Mapped[datetime]
