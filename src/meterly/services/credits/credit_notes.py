"""Credit notes: give back part of a finalized invoice as a credit, a refund or an offset.

The rules (amounts, maxima, validation codes, termination credit) are pure functions in
`meterly.domain.credit_notes`; this module reads the invoice into them, stores the note,
numbers it `<invoice number>-CN<nnn>`, and announces it (`credit_note.created`).

* credit: a balance (`balance_amount_cents`, `credit_status` available) the customer's
  next invoices consume after taxes (the `invoice_credits` provider below);
* refund: `refund_status` pending until the caller says otherwise (no payment provider);
* offset: reduces what the invoice still asks (`offsetted_amount_cents`).

Termination or upgrade of a pay-in-advance subscription credits the unused part of the
paid subscription fee (`credit_unused_subscription_fee`), as `on_termination_credit_note`
says: credit (default) | refund | offset | skip. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import Session

from meterly.domain.credit_notes import (
    CreditableFee,
    CreditNoteAmounts,
    CreditNoteEstimate,
    CreditNoteItemRequest,
    InvoiceCreditState,
    compute_credit_note_amounts,
    estimate_credit_note,
    split_to_total,
    validate_credit_note,
)
from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.domain.invoicing import CreditNoteBalance, InvoiceTotals
from meterly.domain.money import ZERO
from meterly.domain.periods import local_date, local_midnight
from meterly.domain.taxes import Tax
from meterly.services import mail
from meterly.services.accounts import billing_entities
from meterly.services.common import Clock, new_id
from meterly.services.credits import invoice_credits
from meterly.services.invoicing import next_sequence, snapshot
from meterly.services.notifications import enqueue
from meterly.store.tables import Customer, Fee, Invoice, Organization
from meterly.store.tables_credit_notes import CreditNote, CreditNoteItem

REASONS = (
    "duplicated_charge",
    "product_unsatisfactory",
    "order_change",
    "order_cancellation",
    "fraudulent_charge",
    "other",
)
REFUND_STATUSES = ("pending", "succeeded", "failed")
TERMINATION_MODES = ("credit", "refund", "offset", "skip")


# --- reading an invoice into the domain ---------------------------------------------------


def _fee_taxes(fee: Fee) -> tuple[Tax, ...]:
    taxes = []
    for applied in fee.applied_taxes or []:
        code = applied.get("tax_code") or applied.get("code")
        if not code:
            continue
        taxes.append(
            Tax(
                code=str(code),
                name=str(applied.get("tax_name") or applied.get("name") or code),
                rate=Decimal(str(applied.get("tax_rate") or applied.get("rate") or 0)),
                description=str(applied.get("tax_description") or ""),
            )
        )
    return tuple(taxes)


def _notes_of(session: Session, invoice_id: str) -> list[CreditNote]:
    return list(
        session.scalars(
            select(CreditNote)
            .where(CreditNote.invoice_id == invoice_id)
            .order_by(CreditNote.created_at, CreditNote.sequential_id)
        )
    )


def credited_by_fee(session: Session, invoice_id: str) -> dict[str, int]:
    rows = session.execute(
        select(CreditNoteItem.fee_id, func.sum(CreditNoteItem.amount_cents))
        .join(CreditNote, CreditNote.id == CreditNoteItem.credit_note_id)
        .where(CreditNote.invoice_id == invoice_id)
        .group_by(CreditNoteItem.fee_id)
    )
    return {fee_id: int(total or 0) for fee_id, total in rows}


def invoice_state(session: Session, invoice: Invoice) -> InvoiceCreditState:
    """What the invoice can still give back. Voided notes still count: what they credited
    may have been consumed, and a voided balance is not handed out again."""
    credited = credited_by_fee(session, invoice.id)
    fees = tuple(
        CreditableFee(
            id=f.id,
            amount_cents=f.amount_cents,
            precise_coupons_amount_cents=f.precise_coupons_amount_cents or ZERO,
            taxes=_fee_taxes(f),
            credited_amount_cents=credited.get(f.id, 0),
            fee_type=f.fee_type,
        )
        for f in invoice.fees
    )
    notes = _notes_of(session, invoice.id)
    return InvoiceCreditState(
        fees=fees,
        fees_total_amount_cents=invoice.sub_total_including_taxes_amount_cents,
        total_amount_cents=invoice.total_amount_cents,
        total_paid_amount_cents=invoice.total_paid_amount_cents,
        credited_amount_cents=sum(n.credit_amount_cents for n in notes),
        refunded_amount_cents=sum(n.refund_amount_cents for n in notes),
        offset_amount_cents=sum(n.offset_amount_cents for n in notes),
        invoice_type=invoice.invoice_type,
        taxes_amount_cents=invoice.taxes_amount_cents,
        notes_taxes_amount_cents=sum(n.taxes_amount_cents for n in notes),
        # What each earlier note's rounding gave (taxes − precise taxes): the note that
        # credits everything left subtracts it (lago-semantics.md item 14).
        notes_taxes_rounding_cents=sum(
            (Decimal(n.taxes_amount_cents) - (n.precise_taxes_amount_cents or ZERO) for n in notes),
            ZERO,
        ),
    )


def offsetted_amount_cents(session: Session, *, invoice_id: str) -> int:
    """Σ offsets of the invoice's credit notes: the invoice's
    `total_offsetted_credit_note_amount_cents`, subtracted from its due amount."""
    value = session.scalar(
        select(func.coalesce(func.sum(CreditNote.offset_amount_cents), 0)).where(
            CreditNote.invoice_id == invoice_id
        )
    )
    return int(value or 0)


# --- queries ---------------------------------------------------------------------------------


def find(session: Session, *, organization_id: str, credit_note_id: str) -> CreditNote:
    row = session.get(CreditNote, credit_note_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound("credit_note")
    return row


def list_page(
    session: Session,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    external_customer_id: str | None = None,
) -> tuple[list[CreditNote], int]:
    query = select(CreditNote).where(CreditNote.organization_id == organization_id)
    if external_customer_id:
        query = query.join(Customer, Customer.id == CreditNote.customer_id).where(
            Customer.external_id == external_customer_id, Customer.deleted_at.is_(None)
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(CreditNote.created_at.desc(), CreditNote.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def _invoice(session: Session, organization_id: str, invoice_id: str | None) -> Invoice:
    if not invoice_id:
        raise NotFound("invoice")
    row = session.get(Invoice, invoice_id)
    if row is None or row.organization_id != organization_id or row.status in ("deleted",):
        raise NotFound("invoice")
    return row


def _check_invoice(invoice: Invoice) -> None:
    if invoice.status != "finalized":
        raise NotAllowed("invalid_type_or_status", f"invoice is {invoice.status}")


# --- estimate and create ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemInput:
    fee_id: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class CreditNoteInput:
    invoice_id: str | None
    items: tuple[ItemInput, ...] = ()
    reason: str | None = None
    description: str | None = None
    credit_amount_cents: int = 0
    refund_amount_cents: int = 0
    offset_amount_cents: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


def _requests(items: Sequence[ItemInput]) -> list[CreditNoteItemRequest]:
    return [CreditNoteItemRequest(fee_id=i.fee_id, amount_cents=i.amount_cents) for i in items]


def estimate(
    session: Session, *, organization_id: str, invoice_id: str | None, items: Sequence[ItemInput]
) -> tuple[Invoice, CreditNoteEstimate]:
    """Lago's `POST /credit_notes/estimate`: amounts and maxima, nothing stored."""
    invoice = _invoice(session, organization_id, invoice_id)
    _check_invoice(invoice)
    result = estimate_credit_note(invoice=invoice_state(session, invoice), items=_requests(items))
    return invoice, result


def create(
    session: Session, *, organization_id: str, data: CreditNoteInput, clock: Clock
) -> CreditNote:
    invoice = _invoice(session, organization_id, data.invoice_id)
    reason = data.reason or "other"
    if reason not in REASONS:
        raise ValidationFailed.field("reason", "value_is_invalid")
    _check_invoice(invoice)
    state = invoice_state(session, invoice)
    amounts = compute_credit_note_amounts(
        fees=state.fees, items=_requests(data.items), invoice=state
    )
    validate_credit_note(
        invoice=state,
        amounts=amounts,
        credit_amount_cents=data.credit_amount_cents,
        refund_amount_cents=data.refund_amount_cents,
        offset_amount_cents=data.offset_amount_cents,
    )
    split = split_to_total(
        total_amount_cents=amounts.total_amount_cents,
        credit_amount_cents=data.credit_amount_cents,
        refund_amount_cents=data.refund_amount_cents,
        offset_amount_cents=data.offset_amount_cents,
    )
    return store_note(
        session,
        invoice=invoice,
        amounts=amounts,
        reason=reason,
        description=data.description,
        credit=split.credit_amount_cents,
        refund=split.refund_amount_cents,
        offset=split.offset_amount_cents,
        metadata=_clean_metadata(data.metadata),
        clock=clock,
    )


def store_note(
    session: Session,
    *,
    invoice: Invoice,
    amounts: CreditNoteAmounts,
    reason: str,
    description: str | None,
    credit: int,
    refund: int,
    offset: int,
    metadata: dict[str, Any],
    clock: Clock,
    terminated_subscription_id: str | None = None,
) -> CreditNote:

    now = clock.now()
    n = next_sequence(session, organization_id=invoice.organization_id, scope=f"cn:{invoice.id}")
    note = CreditNote(
        id=new_id(),
        organization_id=invoice.organization_id,
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        terminated_subscription_id=terminated_subscription_id,
        sequential_id=n,
        number=f"{invoice.number or invoice.id}-CN{n:03d}",
        issuing_date=local_midnight(
            local_date(now, timezone=_customer_timezone(session, invoice)), timezone="UTC"
        ),
        status="finalized",
        credit_status="available" if credit > 0 else None,
        refund_status="pending" if refund > 0 else None,
        reason=reason,
        description=description,
        currency=invoice.currency,
        total_amount_cents=amounts.total_amount_cents,
        precise_total_amount_cents=amounts.precise_total_amount_cents,
        taxes_amount_cents=amounts.taxes_amount_cents,
        precise_taxes_amount_cents=amounts.precise_taxes_amount_cents,
        taxes_rate=amounts.taxes_rate,
        sub_total_excluding_taxes_amount_cents=amounts.sub_total_excluding_taxes_amount_cents,
        coupons_adjustment_amount_cents=amounts.coupons_adjustment_amount_cents,
        precise_coupons_adjustment_amount_cents=amounts.precise_coupons_adjustment_amount_cents,
        rounding_adjustment_cents=amounts.rounding_adjustment_cents,
        credit_amount_cents=credit,
        balance_amount_cents=credit,
        refund_amount_cents=refund,
        offset_amount_cents=offset,
        applied_taxes=applied_taxes_rows(amounts),
        credit_note_metadata=metadata,
        document_snapshot=snapshot.take(
            session, organization_id=invoice.organization_id, customer_id=invoice.customer_id
        ),
        created_at=now,
        updated_at=now,
    )
    session.add(note)
    session.flush()
    for position, item in enumerate(amounts.items):
        session.add(
            CreditNoteItem(
                id=new_id(),
                credit_note_id=note.id,
                fee_id=item.fee_id,
                position=position,
                amount_cents=item.amount_cents,
                precise_amount_cents=item.precise_amount_cents,
                amount_currency=invoice.currency,
                created_at=now,
            )
        )
    session.flush()
    session.refresh(note)
    enqueue(session, invoice.organization_id, "credit_note.created", "credit_note", note.id, clock)
    mail.enqueue(
        session,
        organization_id=invoice.organization_id,
        customer_id=invoice.customer_id,
        kind="credit_note",
        object_id=note.id,
        clock=clock,
    )
    return note


def applied_taxes_rows(amounts: CreditNoteAmounts) -> list[dict[str, Any]]:
    return [
        {
            "tax_code": t.tax.code,
            "tax_name": t.tax.name,
            "tax_rate": str(t.tax.rate),
            "tax_description": t.tax.description,
            "amount_cents": t.amount_cents,
            "precise_amount_cents": str(t.precise_amount_cents),
            "base_amount_cents": t.base_amount_cents,
        }
        for t in amounts.applied_taxes
    ]


def _customer_timezone(session: Session, invoice: Invoice) -> str:
    customer = session.get(Customer, invoice.customer_id)
    org = session.get(Organization, invoice.organization_id)
    if customer is not None:  # its own timezone, else its billing entity's
        return billing_entities.customer_timezone(session, customer)
    return (org.timezone if org else None) or "UTC"


# --- update, void, metadata --------------------------------------------------------------------


def update(
    session: Session,
    *,
    note: CreditNote,
    refund_status: str | None,
    metadata: Mapping[str, Any] | None,
    clock: Clock,
) -> CreditNote:
    now = clock.now()
    if refund_status is not None:
        if refund_status not in REFUND_STATUSES:
            raise ValidationFailed.field("refund_status", "value_is_invalid")
        if note.refund_amount_cents <= 0:
            raise ValidationFailed.field("refund_status", "value_is_invalid")
        note.refund_status = refund_status
        if refund_status == "succeeded":
            note.refunded_at = now
    if metadata is not None:
        note.credit_note_metadata = _clean_metadata(metadata)
    note.updated_at = now
    session.flush()
    return note


def void(session: Session, *, note: CreditNote, clock: Clock) -> CreditNote:
    """The remaining balance is given up (Lago: only while some balance is left)."""
    if note.credit_status == "voided" or note.balance_amount_cents <= 0:
        raise NotAllowed("no_voidable_amount")
    now = clock.now()
    note.credit_status = "voided"
    note.balance_amount_cents = 0
    note.voided_at = now
    note.updated_at = now
    session.flush()
    return note


def _clean_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValidationFailed.field("metadata", "value_is_invalid")
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > 100:
            raise ValidationFailed.field("metadata", "value_is_invalid")
        if value is not None and not isinstance(value, str):
            value = str(value)
        out[key] = value
    return out


def replace_metadata(
    session: Session, *, note: CreditNote, metadata: Mapping[str, Any] | None, clock: Clock
) -> dict[str, Any]:
    note.credit_note_metadata = _clean_metadata(metadata)
    note.updated_at = clock.now()
    session.flush()
    return dict(note.credit_note_metadata)


def merge_metadata(
    session: Session, *, note: CreditNote, metadata: Mapping[str, Any] | None, clock: Clock
) -> dict[str, Any]:
    merged = dict(note.credit_note_metadata or {}) | _clean_metadata(metadata)
    return replace_metadata(session, note=note, metadata=merged, clock=clock)


def delete_metadata(
    session: Session, *, note: CreditNote, key: str | None, clock: Clock
) -> dict[str, Any]:
    current = dict(note.credit_note_metadata or {})
    if key is None:
        current = {}
    else:
        current.pop(key, None)
    return replace_metadata(session, note=note, metadata=current, clock=clock)


# --- credit balances consumed by later invoices ------------------------------------------------


class CreditNoteCredits:
    """The `invoice_credits` provider: available balances, oldest first, after taxes."""

    def may_apply(self, invoice: Invoice) -> ColumnElement[bool] | bool:
        return exists().where(*_available_to(invoice))

    def holders(self, customer_ids: Collection[str]) -> Select[str]:
        return select(CreditNote.customer_id).where(
            CreditNote.customer_id.in_(customer_ids),
            CreditNote.credit_status == "available",
            CreditNote.status == "finalized",
            CreditNote.balance_amount_cents > 0,
        )

    def gather(
        self,
        session: Session,
        *,
        invoice: Invoice,
        fees: Sequence[Fee],
        credits: invoice_credits.Credits,
    ) -> None:
        rows = session.scalars(
            select(CreditNote)
            .where(*_available_to(invoice))
            # Oldest first; notes of one instant in their number order (CN001, CN002...).
            .order_by(CreditNote.created_at, CreditNote.number)
        )
        credits.credit_notes.extend(
            CreditNoteBalance(
                id=row.id, balance_amount_cents=row.balance_amount_cents, created_at=row.created_at
            )
            for row in rows
        )

    def consume(
        self, session: Session, *, invoice: Invoice, totals: InvoiceTotals, clock: Clock
    ) -> None:
        if not totals.credit_notes:
            return
        lock = session.get_bind().dialect.name == "postgresql"
        now = clock.now()
        for used in totals.credit_notes:
            row = session.get(CreditNote, used.credit_note_id, with_for_update=lock)
            if row is None or row.credit_status != "available":
                continue
            row.balance_amount_cents = max(row.balance_amount_cents - used.amount_cents, 0)
            if row.balance_amount_cents == 0:
                row.credit_status = "consumed"
            row.updated_at = now
        session.flush()


def _available_to(invoice: Invoice) -> tuple[ColumnElement[bool], ...]:
    """Credit notes whose balance the customer's `invoice` may consume."""
    return (
        CreditNote.customer_id == invoice.customer_id,
        CreditNote.currency == invoice.currency,
        CreditNote.credit_status == "available",
        CreditNote.status == "finalized",
        CreditNote.balance_amount_cents > 0,
        CreditNote.invoice_id != invoice.id,
    )


PROVIDER = CreditNoteCredits()


# --- termination and upgrade of pay-in-advance subscriptions -----------------------------------
