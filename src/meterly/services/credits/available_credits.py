"""The credits an invoice may use, gathered from every area that offers some, in the order
of Lago's waterfall: progressive-billing credit, coupons, credit notes, prepaid wallets.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, literal, select, union_all
from sqlalchemy.orm import Session

from meterly.domain.invoicing import InvoiceTotals
from meterly.services.accounts import billing_cache
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
    """The providers that may have something for `invoice`, in their order: from the billing
    batch's probe when the customer is in it, else in one statement."""
    cache = billing_cache.current()
    batch = cache if cache is not None and invoice.customer_id in cache.credit_probed else None
    answers: dict[int, bool] = {}
    conditions: list[tuple[int, ColumnElement[bool]]] = []
    for index, provider in enumerate(PROVIDERS):
        if not isinstance(provider, ProbedProvider):
            answers[index] = True
            continue
        if batch is not None and invoice.customer_id not in batch.credit_holders[_area(provider)]:
            answers[index] = False  # not even its condition is built: that costs too
            continue
        answer = provider.may_apply(invoice)
        if isinstance(answer, bool):
            answers[index] = answer
        elif batch is not None:
            answers[index] = True  # a holder when the batch was read: ask it
        else:
            conditions.append((index, answer))
    if conditions:
        row = session.execute(select(*(c.label(f"p{i}") for i, c in conditions))).one()
        for (index, _), value in zip(conditions, row, strict=True):
            answers[index] = bool(value)
    return [p for index, p in enumerate(PROVIDERS) if answers[index]]


def probe_batch(
    session: Session, cache: billing_cache.BatchCache, customer_ids: Collection[str]
) -> None:
    """Ask, once for a billing batch, which of its customers each credit area could offer
    anything (one statement); the batch's invoices then skip their own probe.

    A credit that appears while the batch is billed (a coupon applied a second later) is
    used from the customer's next invoice, as if the batch had billed it first.
    """
    probed = [p for p in PROVIDERS if isinstance(p, ProbedProvider)]
    ids = sorted(set(customer_ids))
    if not ids or not probed:
        return
    query = union_all(
        *(
            provider.holders(ids).add_columns(literal(_area(provider)).label("area"))
            for provider in probed
        )
    )
    holders: dict[str, set[str]] = {_area(p): set() for p in probed}
    for customer_id, area in session.execute(query):
        holders[area].add(customer_id)
    cache.credit_holders = {area: frozenset(found) for area, found in holders.items()}
    cache.credit_probed = frozenset(ids)


def _area(provider: ProbedProvider) -> str:
    return type(provider).__name__


def consume(session: Session, *, invoice: Invoice, totals: InvoiceTotals, clock: Clock) -> None:
    if invoice.invoice_type == "credit":
        return
    for provider in PROVIDERS:
        provider.consume(session, invoice=invoice, totals=totals, clock=clock)
