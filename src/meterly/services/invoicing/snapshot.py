"""What a document shows of its seller and buyer, frozen when the document is issued.

An issued invoice or credit note is a legal record: it keeps the addresses, legal
numbers, language, timezone and custom sections in force at issue time. Documents
rendered later (PDF, HTML, e-invoice XML) read this snapshot, never the live rows.
It sits here, beside numbering, because finalizing is the moment it is taken.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.services.accounts import billing_cache, billing_entities
from meterly.store.tables import (
    Customer,
    CustomerInvoiceCustomSection,
    InvoiceCustomSection,
    Organization,
)

SNAPSHOT_VERSION = 1
DEFAULT_LOCALE = "en"

# The organization's profile keys a seller block prints (Lago's organization fields).
SELLER_FIELDS = (
    "legal_name",
    "legal_number",
    "tax_identification_number",
    "address_line1",
    "address_line2",
    "zipcode",
    "city",
    "state",
    "country",
    "email",
    "logo_url",
)
BUYER_FIELDS = (
    "legal_name",
    "legal_number",
    "tax_identification_number",
    "address_line1",
    "address_line2",
    "zipcode",
    "city",
    "state",
    "country",
    "phone",
)


def document_locale(session: Session, customer: Customer) -> str:
    """The customer's document language, else its billing entity's, else the
    organization's, else English."""
    chosen = billing_entities.customer_settings(session, customer).document_locale
    return chosen or DEFAULT_LOCALE


def custom_sections_for(
    session: Session, org: Organization, customer: Customer
) -> list[dict[str, Any]]:
    """The sections printed for this customer: none if it skips them, its own choice if it
    made one, else the organization's defaults."""
    if customer.skip_invoice_custom_sections:
        return []
    batch = _batch_sections(session, org.id)
    if batch is not None and customer.id not in batch[1]:
        return [dict(section) for section in batch[0]]
    own = session.scalars(
        select(InvoiceCustomSection)
        .join(
            CustomerInvoiceCustomSection,
            CustomerInvoiceCustomSection.invoice_custom_section_id == InvoiceCustomSection.id,
        )
        .where(CustomerInvoiceCustomSection.customer_id == customer.id)
        .order_by(InvoiceCustomSection.code)
    )
    defaults = batch[0] if batch is not None else _defaults(session, org.id)
    return [_printed(row) for row in own] or [dict(section) for section in defaults]


def _defaults(session: Session, organization_id: str) -> tuple[dict[str, Any], ...]:
    return tuple(
        _printed(row)
        for row in session.scalars(
            select(InvoiceCustomSection)
            .where(
                InvoiceCustomSection.organization_id == organization_id,
                InvoiceCustomSection.applied_to_organization.is_(True),
            )
            .order_by(InvoiceCustomSection.code)
        )
    )


def _batch_sections(
    session: Session, organization_id: str
) -> tuple[tuple[dict[str, Any], ...], frozenset[str]] | None:
    """In a billing batch, the organization's default sections and the customers that chose
    their own, read once for the batch; None outside one."""
    cache = billing_cache.current()
    if cache is None:
        return None
    if organization_id not in cache.custom_sections:
        choosers = frozenset(
            session.scalars(
                select(CustomerInvoiceCustomSection.customer_id)
                .join(
                    InvoiceCustomSection,
                    CustomerInvoiceCustomSection.invoice_custom_section_id
                    == InvoiceCustomSection.id,
                )
                .where(InvoiceCustomSection.organization_id == organization_id)
                .distinct()
            )
        )
        cache.custom_sections[organization_id] = (_defaults(session, organization_id), choosers)
    return cache.custom_sections[organization_id]


def _printed(row: InvoiceCustomSection) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "code": row.code,
        "name": row.name,
        "display_name": row.display_name or row.name,
        "details": row.details or "",
    }


def take(session: Session, *, organization_id: str, customer_id: str) -> dict[str, Any]:
    """The seller, buyer, language, timezone and custom sections as they stand now."""
    org = session.get(Organization, organization_id)
    customer = session.get(Customer, customer_id)
    if org is None or customer is None:
        return {}
    # The customer's billing entity is the seller; the organization when it has none.
    seller = billing_entities.seller_for(session, customer)
    seller_profile = seller.profile
    buyer_profile = customer.profile or {}
    return {
        "version": SNAPSHOT_VERSION,
        "locale": document_locale(session, customer),
        "timezone": billing_entities.customer_timezone(session, customer),
        "seller": {
            "name": seller.name,
            **{k: seller_profile[k] for k in SELLER_FIELDS if seller_profile.get(k)},
        },
        "buyer": {
            "name": customer.name or "",
            "external_id": customer.external_id,
            "email": customer.email or "",
            **{k: buyer_profile[k] for k in BUYER_FIELDS if buyer_profile.get(k)},
        },
        "custom_sections": custom_sections_for(session, org, customer),
    }
