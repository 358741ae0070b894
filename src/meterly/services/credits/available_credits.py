"""The credits an invoice may use, gathered from every area that offers some, in the order
of Lago's waterfall: progressive-billing credit, coupons, credit notes, prepaid wallets.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from meterly.domain.invoicing import InvoiceTotals
from meterly.services.common import Clock
from meterly.services.credits import coupon_credits, credit_notes, progressive_credit, wallets
from meterly.services.credits.invoice_credits import CreditProvider, Credits, ProbedProvider
from meterly.store.tables import Fee, Invoice

PROVIDERS: tuple[CreditProvider, ...] = (
    progressive_credit.PROVIDER,
    coupon_credits.PROVIDER,
    credit_notes.PROVIDER,
    wallets.PROVIDER,
)


def gather(session: Session, *, invoice: Invoice, fees: Sequence[Fee]) -> Credits:
    credits = Credits()
    # One-off invoices for prepaid credits (wallet top-ups) are never paid with credits.
    if invoice.invoice_type == "credit":
        return credits
    for provider in _worth_asking(session, invoice):
        provider.gather(session, invoice=invoice, fees=fees, credits=credits)
    return credits


def _worth_asking(session: Session, invoice: Invoice) -> list[CreditProvider]:
    """The providers that may have something for `invoice`, in their order (one statement)."""
    answers: dict[int, bool] = {}
    conditions: list[tuple[int, ColumnElement[bool]]] = []
    for index, provider in enumerate(PROVIDERS):
        if not isinstance(provider, ProbedProvider):
            answers[index] = True
            continue
        answer = provider.may_apply(invoice)
        if isinstance(answer, bool):
            answers[index] = answer
        else:
            conditions.append((index, answer))
    if conditions:
        row = session.execute(select(*(c.label(f"p{i}") for i, c in conditions))).one()
        for (index, _), value in zip(conditions, row, strict=True):
            answers[index] = bool(value)
    return [p for index, p in enumerate(PROVIDERS) if answers[index]]


def consume(session: Session, *, invoice: Invoice, totals: InvoiceTotals, clock: Clock) -> None:
    if invoice.invoice_type == "credit":
        return
    for provider in PROVIDERS:
        provider.consume(session, invoice=invoice, totals=totals, clock=clock)
