"""The credit note of a terminated pay-in-advance subscription: the unused part of its paid
subscription fee, credited (default), refunded or offset as `on_termination_credit_note` says.

Lago's order (lago-semantics item 14): the note is made *before* the termination invoice,
so that invoice consumes its credit. When the invoice that paid the period is still a
draft (its grace period runs), the note is a draft too: it is finalized, numbered after
the invoice and made available, when that invoice is (`finalize_draft_notes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.credit_notes import (
    CreditNoteItemRequest,
    compute_credit_note_amounts,
    single_day_price,
)
from meterly.domain.errors import ValidationFailed
from meterly.domain.money import FEE_ROUNDING, ZERO, round_cents
from meterly.domain.schedule import termination_boundary
from meterly.services.accounts import terms_of
from meterly.services.common import Clock
from meterly.services.credits.credit_notes import (
    TERMINATION_MODES,
    credited_by_fee,
    invoice_state,
    store_note,
)
from meterly.store.tables import Fee, Invoice, Subscription
from meterly.store.tables_credit_notes import CreditNote


@dataclass(frozen=True, slots=True)
class UnusedFee:
    fee: Fee
    invoice: Invoice
    day_price_cents: Decimal
    unused_days: int
    precise_amount_cents: Decimal


def unused_subscription_fee(
    session: Session, *, sub: Subscription, upgrading: bool
) -> UnusedFee | None:
    """The paid subscription fee of the open period and its unused part, if any."""

    if sub.terminated_at is None or not sub.plan.pay_in_advance:
        return None
    ending = termination_boundary(terms_of(session, sub), sub.terminated_at, upgraded=upgrading)
    span = ending.paid_in_advance
    if span is None or ending.unused_days <= 0:
        return None
    fee = session.scalar(
        select(Fee)
        .join(Invoice, Invoice.id == Fee.invoice_id)
        .where(
            Fee.subscription_id == sub.id,
            Fee.fee_type == "subscription",
            Fee.deleted_at.is_(None),
            Fee.from_datetime <= span.billed.end,
            Fee.to_datetime >= span.billed.start,
            # A draft paid invoice gets a draft note (finalized with it).
            Invoice.status.in_(("finalized", "draft")),
        )
        .order_by(Fee.from_datetime.desc(), Fee.created_at.desc())
        .limit(1)
    )
    if fee is None or fee.invoice_id is None or fee.amount_cents <= 0:
        return None
    invoice = session.get(Invoice, fee.invoice_id)
    assert invoice is not None
    plan_amount = int((fee.amount_details or {}).get("plan_amount_cents", sub.plan.amount_cents))
    day_price = single_day_price(amount_cents=plan_amount, period_days=span.full_period.days)
    creditable = fee.amount_cents - credited_by_fee(session, invoice.id).get(fee.id, 0)
    precise = max(min(day_price * ending.unused_days, Decimal(creditable)), ZERO)
    return UnusedFee(
        fee=fee,
        invoice=invoice,
        day_price_cents=day_price,
        unused_days=ending.unused_days,
        precise_amount_cents=precise,
    )


def credit_unused_subscription_fee(
    session: Session, *, sub: Subscription, clock: Clock, upgrading: bool
) -> CreditNote | None:
    """The automatic credit note for the unused days of a paid-in-advance period.

    Call it once the subscription is terminated (`terminated_at` set). Idempotent: a
    second call returns the note the first one made.
    """
    mode = sub.on_termination_credit_note or "credit"
    if mode not in TERMINATION_MODES:
        raise ValidationFailed.field("on_termination_credit_note", "value_is_invalid")
    if mode == "skip":
        return None
    existing = session.scalar(
        select(CreditNote).where(CreditNote.terminated_subscription_id == sub.id)
    )
    if existing is not None:
        return existing
    unused = unused_subscription_fee(session, sub=sub, upgrading=upgrading)
    if unused is None:
        return None
    amount = round_cents(unused.precise_amount_cents, FEE_ROUNDING)
    if amount <= 0:
        return None
    state = invoice_state(session, unused.invoice)
    amounts = compute_credit_note_amounts(
        fees=state.fees,
        invoice=state,
        items=[
            CreditNoteItemRequest(
                fee_id=unused.fee.id,
                amount_cents=amount,
                precise_amount_cents=unused.precise_amount_cents,
            )
        ],
    )
    total = amounts.total_amount_cents
    refund = offset = 0
    if mode == "refund":
        refund = min(total, state.refundable_amount_cents)
    elif mode == "offset":
        offset = min(total, state.offsettable_amount_cents)
    note = store_note(
        session,
        invoice=unused.invoice,
        amounts=amounts,
        reason="order_change",
        description=None,
        credit=total - refund - offset,
        refund=refund,
        offset=offset,
        metadata={},
        clock=clock,
        terminated_subscription_id=sub.id,
    )
    if unused.invoice.status == "draft":
        # Not consumable (only finalized notes are) until the invoice it credits is final.
        note.status = "draft"
        session.flush()
    return note


def finalize_draft_notes(session: Session, *, invoice: Invoice, clock: Clock) -> list[CreditNote]:
    """Finalize the draft credit notes of an invoice that was just finalized.

    Each is numbered after the invoice's new number (`<invoice number>-CN<nnn>`, its
    sequence kept) and its credit becomes available to the customer's next invoices.
    """
    if invoice.status != "finalized":
        return []
    notes = list(
        session.scalars(
            select(CreditNote).where(
                CreditNote.invoice_id == invoice.id, CreditNote.status == "draft"
            )
        )
    )
    now = clock.now()
    for note in notes:
        note.status = "finalized"
        note.number = f"{invoice.number or invoice.id}-CN{note.sequential_id:03d}"
        note.updated_at = now
    session.flush()
    return notes
