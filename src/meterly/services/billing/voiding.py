"""Voiding an invoice with a credit note (Lago's `POST /invoices/{id}/void` with
`generate_credit_note`).

Lago voids the invoice whatever its payment status and gives back what the caller asks:
`refund_amount` (to be paid back) and `credit_amount` (credit for later invoices). When
those do not cover what the invoice can still give back, the remainder goes on a second
credit note that is created and voided at once, so the invoice ends with nothing left to
credit and the customer gets exactly what was asked.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from meterly.domain.credit_notes import (
    CreditNoteAmounts,
    CreditNoteItemRequest,
    InvoiceCreditState,
    compute_credit_note_amounts,
    scaled_items,
)
from meterly.domain.errors import NotAllowed, ValidationFailed
from meterly.services.billing.invoices import void
from meterly.services.common import Clock
from meterly.services.credits import credit_notes
from meterly.store.tables import CreditNote, Invoice

# A share's taxes are rounded per item: the first note may land a cent or two from the
# asked total. The largest item is nudged one cent at a time, at most this many times.
_NUDGES = 8


def void_with_credit_note(
    session: Session,
    *,
    invoice: Invoice,
    refund_amount_cents: int,
    credit_amount_cents: int,
    clock: Clock,
) -> tuple[Invoice, list[CreditNote]]:
    if invoice.status != "finalized":
        raise NotAllowed("not_voidable")
    for name, value in (
        ("refund_amount", refund_amount_cents),
        ("credit_amount", credit_amount_cents),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationFailed.field(name, "value_is_invalid")
    state = credit_notes.invoice_state(session, invoice)
    remaining = [
        (fee.id, fee.amount_cents - fee.credited_amount_cents)
        for fee in state.fees
        if fee.amount_cents - fee.credited_amount_cents > 0
    ]
    whole = _amounts(state, [CreditNoteItemRequest(i, a) for i, a in remaining])
    available = whole.total_amount_cents if whole else 0
    asked = refund_amount_cents + credit_amount_cents
    if asked > available:
        raise ValidationFailed.field("base", "higher_than_remaining_invoice_amount")
    notes: list[CreditNote] = []
    given: dict[str, int] = {}
    if asked > 0:
        items = (
            [CreditNoteItemRequest(i, a) for i, a in remaining]
            if asked == available
            else _items_for(state, remaining, asked=asked, available=available)
        )
        notes.append(
            _create(
                session,
                invoice,
                items,
                credit=credit_amount_cents,
                refund=refund_amount_cents,
                clock=clock,
            )
        )
        given = {item.fee_id: item.amount_cents for item in items}
    rest = [
        CreditNoteItemRequest(fee_id, amount - given.get(fee_id, 0))
        for fee_id, amount in remaining
        if amount - given.get(fee_id, 0) > 0
    ]
    if rest:
        rest_state = credit_notes.invoice_state(session, invoice)
        rest_amounts = _amounts(rest_state, rest)
        if rest_amounts is not None and rest_amounts.total_amount_cents > 0:
            # What is not given back is written off: credited, then voided at once.
            leftover = _create(
                session,
                invoice,
                rest,
                credit=rest_amounts.total_amount_cents,
                refund=0,
                clock=clock,
            )
            credit_notes.void(session, note=leftover, clock=clock)
            notes.append(leftover)
    void(session, invoice=invoice, clock=clock, force=True)
    return invoice, notes


def _amounts(
    state: InvoiceCreditState, items: list[CreditNoteItemRequest]
) -> CreditNoteAmounts | None:
    if not items:
        return None
    return compute_credit_note_amounts(fees=state.fees, items=items, invoice=state)


def _items_for(
    state: InvoiceCreditState,
    remaining: list[tuple[str, int]],
    *,
    asked: int,
    available: int,
) -> list[CreditNoteItemRequest]:
    """Items worth `asked` with taxes: the remaining amounts scaled by asked / available,
    then the largest item nudged by a cent until the total is within a cent of `asked`."""
    items = scaled_items(remaining, numerator=asked, denominator=available)
    caps = dict(remaining)
    for _ in range(_NUDGES):
        amounts = _amounts(state, items)
        total = amounts.total_amount_cents if amounts else 0
        if abs(total - asked) <= 1:
            return items
        step = 1 if total < asked else -1
        largest = max(range(len(items)), key=lambda i: items[i].amount_cents)
        nudged = items[largest].amount_cents + step
        if not 0 < nudged <= caps[items[largest].fee_id]:
            break
        items[largest] = CreditNoteItemRequest(items[largest].fee_id, nudged)
    return items


def _create(
    session: Session,
    invoice: Invoice,
    items: list[CreditNoteItemRequest],
    *,
    credit: int,
    refund: int,
    clock: Clock,
) -> CreditNote:
    data = credit_notes.CreditNoteInput(
        invoice_id=invoice.id,
        items=tuple(credit_notes.ItemInput(i.fee_id, i.amount_cents) for i in items),
        reason="other",
        credit_amount_cents=credit,
        refund_amount_cents=refund,
    )
    return credit_notes.create(
        session, organization_id=invoice.organization_id, data=data, clock=clock
    )
