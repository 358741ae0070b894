"""The correction documents of one finalized invoice, from its corrected events.

Each usage fee is re-derived with the audit's own arithmetic
(`reconciliation.rederive_fee`: the events as corrected, the charge properties stored on
the fee at issue) and compared with what the customer was billed for it: the fee's amount
plus what earlier correction documents changed it by (`fee_corrections`). Where the events
now give less, a credit note item (reason `other`); where they give more, a fee on a
correction invoice. Both carry the original fee's taxes. The original invoice is never
touched, and a fee already corrected to its events gives no difference: a second run
issues nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.money import currency
from meterly.domain.periods import local_date, local_midnight
from meterly.domain.taxes import Tax as TaxRate
from meterly.services.accounts import billing_entities
from meterly.services.billing import apply_waterfall
from meterly.services.catalog import TaxContext
from meterly.services.common import Clock, new_id
from meterly.services.credits import credit_notes
from meterly.services.invoicing import enqueue_webhook
from meterly.services.invoicing import finalize as finalize_numbered
from meterly.services.reconciliation import rederive_fee
from meterly.store.event_corrections import corrected_by_fee
from meterly.store.tables import Charge, Customer, Fee, FeeCorrection, Invoice, Organization
from meterly.store.tables_credit_notes import CreditNote

# A correction invoice is Lago's closest kind: a one-off invoice (no coupons, no period).
CORRECTION_INVOICE_TYPE = "one_off"


@dataclass(frozen=True, slots=True)
class FeeDifference:
    fee: Fee
    billed_cents: int  # the fee's amount with earlier corrections
    derived_cents: int  # what the corrected events give
    events_count: int

    @property
    def cents(self) -> int:
        return self.derived_cents - self.billed_cents


@dataclass(slots=True)
class InvoiceCorrection:
    invoice: Invoice
    credit_note: CreditNote | None = None
    correction_invoice: Invoice | None = None
    differences: list[FeeDifference] = field(default_factory=list)


def differences(session: Session, invoice: Invoice) -> list[FeeDifference]:
    """Every usage fee of the invoice whose corrected events give another amount."""
    org = session.get(Organization, invoice.organization_id)
    include_late = bool(org is not None and org.accept_late_events)
    fees = list(
        session.scalars(
            select(Fee)
            .where(Fee.invoice_id == invoice.id, Fee.deleted_at.is_(None))
            .order_by(Fee.position, Fee.created_at)
        )
    )
    corrected = corrected_by_fee(session.connection(), [f.id for f in fees])
    found = []
    for fee in fees:
        derived = rederive_fee(session, invoice, fee, include_late=include_late)
        if derived is None:
            continue
        billed = fee.amount_cents + corrected.get(fee.id, 0)
        if derived[0] != billed:
            found.append(FeeDifference(fee, billed, derived[0], derived[1]))
    return found


def correct_invoice(
    session: Session, *, invoice: Invoice, citations: list[dict[str, Any]], clock: Clock
) -> InvoiceCorrection:
    """Issue the credit note and/or correction invoice the invoice's corrected events call for."""
    result = InvoiceCorrection(invoice=invoice, differences=differences(session, invoice))
    lower = [d for d in result.differences if d.cents < 0]
    higher = [d for d in result.differences if d.cents > 0]
    if lower:
        result.credit_note = _credit_note(session, invoice, lower, citations, clock)
    if higher:
        result.correction_invoice = _correction_invoice(session, invoice, higher, citations, clock)
    return result


def _description(invoice: Invoice, citations: list[dict[str, Any]]) -> str:
    events = ", ".join(f"{c['transaction_id']} ({c['kind']})" for c in citations[:20])
    more = f" and {len(citations) - 20} more" if len(citations) > 20 else ""
    return f"Correction of invoice {invoice.number}: corrected events {events}{more}"


def _credit_note(
    session: Session,
    invoice: Invoice,
    lower: list[FeeDifference],
    citations: list[dict[str, Any]],
    clock: Clock,
) -> CreditNote:
    items = tuple(credit_notes.ItemInput(fee_id=d.fee.id, amount_cents=-d.cents) for d in lower)
    _, estimate = credit_notes.estimate(
        session, organization_id=invoice.organization_id, invoice_id=invoice.id, items=items
    )
    note = credit_notes.create(
        session,
        organization_id=invoice.organization_id,
        data=credit_notes.CreditNoteInput(
            invoice_id=invoice.id,
            items=items,
            reason="other",
            description=_description(invoice, citations),
            credit_amount_cents=estimate.amounts.total_amount_cents,
            metadata={"correction_of_invoice": invoice.number or invoice.id},
        ),
        clock=clock,
    )
    now = clock.now()
    for d in lower:
        session.add(
            FeeCorrection(
                id=new_id(),
                organization_id=invoice.organization_id,
                original_invoice_id=invoice.id,
                fee_id=d.fee.id,
                amount_cents=d.cents,
                credit_note_id=note.id,
                created_at=now,
            )
        )
    session.flush()
    return note


@dataclass(frozen=True, slots=True)
class _OriginalTaxes(TaxContext):
    """Each correction fee is taxed as the fee it corrects was (by charge)."""

    by_charge: dict[str, tuple[TaxRate, ...]] = field(default_factory=dict)

    def for_charge(self, charge: Charge) -> tuple[TaxRate, ...]:
        return self.by_charge.get(charge.id, ())


def _taxes_of(fee: Fee) -> tuple[TaxRate, ...]:
    return tuple(
        TaxRate(
            code=str(t.get("tax_code")),
            name=str(t.get("tax_name") or t.get("tax_code")),
            rate=Decimal(str(t.get("tax_rate") or 0)),
            description=str(t.get("tax_description") or ""),
        )
        for t in fee.applied_taxes or []
        if t.get("tax_code")
    )


def _correction_invoice(
    session: Session,
    original: Invoice,
    higher: list[FeeDifference],
    citations: list[dict[str, Any]],
    clock: Clock,
) -> Invoice:
    now = clock.now()
    customer = session.get(Customer, original.customer_id)
    assert customer is not None
    terms = billing_entities.customer_settings(session, customer)
    day = local_date(now, timezone=terms.timezone)
    invoice = Invoice(
        id=new_id(),
        organization_id=original.organization_id,
        customer_id=original.customer_id,
        billing_entity_code=original.billing_entity_code,
        invoice_type=CORRECTION_INVOICE_TYPE,
        status="draft",
        payment_status="pending",
        currency=original.currency,
        issuing_date=local_midnight(day, timezone="UTC"),
        payment_due_date=local_midnight(
            day + timedelta(days=terms.net_payment_term), timezone="UTC"
        ),
        net_payment_term=terms.net_payment_term,
        breakdown={},
        invoice_metadata=[
            {
                "lago_id": new_id(),
                "key": "correction_of_invoice",
                "value": original.number or original.id,
                "created_at": now.isoformat().replace("+00:00", "Z"),
            }
        ],
        created_at=now,
        updated_at=now,
    )
    session.add(invoice)
    session.flush()
    fees = [
        _correction_fee(invoice, original, d, citations, position=i, now=now)
        for i, d in enumerate(higher)
    ]
    session.add_all(fees)
    session.flush()
    context = TaxContext.for_customer(session, customer, None)
    taxes = _OriginalTaxes(
        organization=context.organization,
        customer=context.customer,
        plan=context.plan,
        by_code=context.by_code,
        by_charge={d.fee.charge_id: _taxes_of(d.fee) for d in higher if d.fee.charge_id},
    )
    apply_waterfall(session, invoice=invoice, fees=fees, taxes=taxes, clock=clock)
    finalize_numbered(session, invoice=invoice, clock=clock)
    # One-off invoices announce themselves as invoice.one_off_created; a correction is
    # announced as any issued invoice.
    enqueue_webhook(session, invoice=invoice, webhook_type="invoice.created", clock=clock)
    for d, fee in zip(higher, fees, strict=True):
        session.add(
            FeeCorrection(
                id=new_id(),
                organization_id=original.organization_id,
                original_invoice_id=original.id,
                fee_id=d.fee.id,
                amount_cents=d.cents,
                correction_invoice_id=invoice.id,
                correction_fee_id=fee.id,
                created_at=now,
            )
        )
    session.flush()
    session.refresh(invoice)
    return invoice


def _major(cents: int, subunit: int) -> str:
    return format(Decimal(cents) / subunit, "f")


def _correction_fee(
    invoice: Invoice,
    original: Invoice,
    d: FeeDifference,
    citations: list[dict[str, Any]],
    *,
    position: int,
    now: Any,
) -> Fee:
    fee = d.fee
    subunit = currency(fee.currency).subunit_to_unit
    label = f"corrected events of invoice {original.number}"
    return Fee(
        id=new_id(),
        organization_id=fee.organization_id,
        invoice_id=invoice.id,
        customer_id=fee.customer_id,
        subscription_id=fee.subscription_id,
        charge_id=fee.charge_id,
        charge_filter_id=fee.charge_filter_id,
        position=position,
        fee_type=fee.fee_type,
        item=dict(fee.item or {}),
        pay_in_advance=False,
        invoiceable=True,
        currency=fee.currency,
        amount_cents=d.cents,
        precise_amount_cents=Decimal(d.cents),
        unit_amount_cents=d.cents,
        precise_unit_amount=Decimal(d.cents) / subunit,
        units=Decimal(1),
        total_aggregated_units=None,
        events_count=d.events_count,
        # Why this amount, for the explain endpoint: the events' amount less what was billed.
        amount_details={
            "corrects_fee_id": fee.id,
            "original_invoice_id": original.id,
            "original_invoice_number": original.number,
            "original_amount_cents": fee.amount_cents,
            "billed_amount_cents": d.billed_cents,
            "derived_amount_cents": d.derived_cents,
            "difference_cents": d.cents,
            "corrected_events": citations,
        },
        explanation=[
            {
                "label": f"{label}: amount derived from the events",
                "units": "1",
                "unit_price": _major(d.derived_cents, subunit),
                "flat_amount": "0",
                "amount": _major(d.derived_cents, subunit),
            },
            {
                "label": f"{label}: already billed",
                "units": "1",
                "unit_price": _major(-d.billed_cents, subunit),
                "flat_amount": "0",
                "amount": _major(-d.billed_cents, subunit),
            },
        ],
        properties=dict(fee.properties or {}),
        applied_taxes=[],
        payment_status="pending",
        from_datetime=fee.from_datetime,
        to_datetime=fee.to_datetime,
        created_at=now,
        updated_at=now,
    )
