"""The credit note and estimated credit note objects on the wire (lago-api.md §7.10)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.api.http import Payload
from meterly.api.schemas.customers import customer as customer_body
from meterly.api.schemas.fees import applied_tax_id
from meterly.api.schemas.fees import fee as fee_body
from meterly.api.wire import dec, iso, iso_date
from meterly.domain.credit_notes import CreditNoteEstimate
from meterly.services.credits import applied_taxes_rows
from meterly.store.tables import Customer, Fee, Invoice, Organization, Tax
from meterly.store.tables_credit_notes import CreditNote


class CreditNoteItemIn(Payload):
    fee_id: str
    amount_cents: int = Field(strict=True)


class CreditNoteIn(Payload):
    invoice_id: str | None = None
    reason: str | None = None
    description: str | None = None
    credit_amount_cents: int | None = Field(default=None, strict=True)
    refund_amount_cents: int | None = Field(default=None, strict=True)
    offset_amount_cents: int | None = Field(default=None, strict=True)
    items: list[CreditNoteItemIn] | None = None
    metadata: dict[str, Any] | None = None


class CreditNoteUpdateIn(Payload):
    refund_status: str | None = None
    metadata: dict[str, Any] | None = None


def _tax_ids(session: Session, organization_id: str, codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = session.execute(
        select(Tax.code, Tax.id).where(Tax.organization_id == organization_id, Tax.code.in_(codes))
    )
    return {str(code): str(tax_id) for code, tax_id in rows.tuples()}


def applied_taxes(
    session: Session,
    *,
    organization_id: str,
    owner_id: str,
    currency: str,
    rows: list[dict[str, Any]],
    created_at: str | None,
    owner_key: str | None = "lago_credit_note_id",
) -> list[dict[str, Any]]:
    ids = _tax_ids(session, organization_id, [str(r.get("tax_code")) for r in rows])
    out = []
    for tax in rows:
        code = str(tax.get("tax_code") or "")
        body: dict[str, Any] = {
            "lago_id": applied_tax_id(owner_id, code),
            "lago_tax_id": ids.get(code),
            "tax_name": tax.get("tax_name"),
            "tax_code": code,
            "tax_rate": float(tax.get("tax_rate") or 0),
            "tax_description": tax.get("tax_description") or None,
            "base_amount_cents": int(tax.get("base_amount_cents") or 0),
            "amount_cents": int(tax.get("amount_cents") or 0),
            "amount_currency": currency,
            "created_at": created_at,
        }
        if owner_key:
            body[owner_key] = owner_id
        out.append(body)
    return out


def credit_note(
    session: Session, row: CreditNote, *, file_url: str | None = None
) -> dict[str, Any]:
    invoice = session.get(Invoice, row.invoice_id)
    customer = session.get(Customer, row.customer_id)
    org = session.get(Organization, row.organization_id)
    items = []
    for item in row.items:
        fee_row = session.get(Fee, item.fee_id)
        items.append(
            {
                "lago_id": item.id,
                "amount_cents": item.amount_cents,
                "precise_amount_cents": dec(item.precise_amount_cents),
                "amount_currency": item.amount_currency,
                "fee": fee_body(fee_row, with_taxes=True) if fee_row is not None else None,
            }
        )
    return {
        "lago_id": row.id,
        "billing_entity_code": None,
        "sequential_id": row.sequential_id,
        "number": row.number,
        "lago_invoice_id": row.invoice_id,
        "invoice_number": invoice.number if invoice else None,
        "purchase_order_number": None,
        "issuing_date": iso_date(row.issuing_date),
        "credit_status": row.credit_status,
        "refund_status": row.refund_status,
        "reason": row.reason,
        "description": row.description,
        "currency": row.currency,
        "total_amount_cents": row.total_amount_cents,
        "precise_total_amount_cents": dec(row.precise_total_amount_cents),
        "taxes_amount_cents": row.taxes_amount_cents,
        "precise_taxes_amount_cents": dec(row.precise_taxes_amount_cents),
        "sub_total_excluding_taxes_amount_cents": row.sub_total_excluding_taxes_amount_cents,
        "balance_amount_cents": row.balance_amount_cents,
        "credit_amount_cents": row.credit_amount_cents,
        "refund_amount_cents": row.refund_amount_cents,
        "offset_amount_cents": row.offset_amount_cents,
        "coupons_adjustment_amount_cents": row.coupons_adjustment_amount_cents,
        "precise_coupons_adjustment_amount_cents": dec(row.precise_coupons_adjustment_amount_cents),
        "rounding_adjustment_cents": row.rounding_adjustment_cents,
        "taxes_rate": float(row.taxes_rate),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "voided_at": iso(row.voided_at),
        "refunded_at": iso(row.refunded_at),
        "file_url": file_url,
        "xml_url": None,
        "self_billed": False,
        "customer": customer_body(customer, org) if customer and org else None,
        "items": items,
        "applied_taxes": applied_taxes(
            session,
            organization_id=row.organization_id,
            owner_id=row.id,
            currency=row.currency,
            rows=list(row.applied_taxes or []),
            created_at=iso(row.created_at),
        ),
        "error_details": [],
        "metadata": dict(row.credit_note_metadata or {}),
    }


def credit_note_payload(session: Session, row: CreditNote) -> dict[str, Any]:
    """The webhook body (`credit_note.created`, `credit_note.generated`)."""
    return credit_note(session, row)


def estimated_credit_note(
    session: Session, invoice: Invoice, result: CreditNoteEstimate
) -> dict[str, Any]:
    amounts = result.amounts
    return {
        "lago_invoice_id": invoice.id,
        "invoice_number": invoice.number,
        "currency": invoice.currency,
        "taxes_amount_cents": amounts.taxes_amount_cents,
        "precise_taxes_amount_cents": dec(amounts.precise_taxes_amount_cents),
        "sub_total_excluding_taxes_amount_cents": amounts.sub_total_excluding_taxes_amount_cents,
        "total_amount_cents": amounts.total_amount_cents,
        "max_creditable_amount_cents": result.max_creditable_amount_cents,
        "max_refundable_amount_cents": result.max_refundable_amount_cents,
        "max_offsettable_amount_cents": result.max_offsettable_amount_cents,
        "coupons_adjustment_amount_cents": amounts.coupons_adjustment_amount_cents,
        "precise_coupons_adjustment_amount_cents": dec(
            amounts.precise_coupons_adjustment_amount_cents
        ),
        "taxes_rate": float(amounts.taxes_rate),
        "items": [
            {"lago_fee_id": item.fee_id, "amount_cents": item.amount_cents}
            for item in amounts.items
        ],
        "applied_taxes": applied_taxes(
            session,
            organization_id=invoice.organization_id,
            owner_id=invoice.id,
            currency=invoice.currency,
            rows=applied_taxes_rows(amounts),
            created_at=None,
            owner_key=None,
        ),
    }
