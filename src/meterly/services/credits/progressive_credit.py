"""What progressive invoices already billed in a period is credited on the period's later
invoices (Lago's progressive billing credit), as a provider of the invoice waterfall.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import Session, aliased

from meterly.domain.invoicing import InvoiceTotals
from meterly.services.common import Clock
from meterly.services.credits import invoice_credits
from meterly.store.tables import Fee, Invoice, InvoiceSubscription, Subscription

# The invoicing reason and invoice type of an invoice issued when a threshold is crossed.
PROGRESSIVE = "progressive_billing"


class EarlyBilledCredit:
    """What progressive invoices already billed in a period is credited on later invoices."""

    def may_apply(self, invoice: Invoice) -> ColumnElement[bool] | bool:
        """Some subscription of `invoice` has another, progressive invoice."""
        period = aliased(InvoiceSubscription)
        progressive = aliased(InvoiceSubscription)
        return exists().where(
            period.invoice_id == invoice.id,
            period.charges_from_datetime.is_not(None),
            exists().where(
                progressive.subscription_id == period.subscription_id,
                progressive.invoicing_reason == PROGRESSIVE,
                progressive.invoice_id != invoice.id,
            ),
        )

    def holders(self, customer_ids: Collection[str]) -> Select[str]:
        """Customers with a subscription that has a progressive invoice."""
        return (
            select(Subscription.customer_id)
            .join(InvoiceSubscription, InvoiceSubscription.subscription_id == Subscription.id)
            .where(
                Subscription.customer_id.in_(customer_ids),
                InvoiceSubscription.invoicing_reason == PROGRESSIVE,
            )
        )

    def gather(
        self,
        session: Session,
        *,
        invoice: Invoice,
        fees: Sequence[Fee],
        credits: invoice_credits.Credits,
    ) -> None:
        periods = list(
            session.scalars(
                select(InvoiceSubscription).where(InvoiceSubscription.invoice_id == invoice.id)
            )
        )
        for period in periods:
            if period.charges_from_datetime is None:
                continue
            credits.progressive_billing_credit_cents += _billed_early(
                session, invoice=invoice, period=period
            )

    def consume(
        self, session: Session, *, invoice: Invoice, totals: InvoiceTotals, clock: Clock
    ) -> None:
        """Nothing to record: the credit is derived from the progressive invoices."""


def _billed_early(session: Session, *, invoice: Invoice, period: InvoiceSubscription) -> int:
    """What the earlier progressive invoices of the subscription's period billed.

    Each of them billed its charge fees (the usage up to its threshold) minus its own
    progressive-billing credit (what the ones before it billed), so the sum is the usage
    of the latest one: a later threshold invoice bills only the usage above it, and the
    period's invoice deducts all of them (lago-semantics item 14). Summing their fees
    instead would count the early usage once per invoice.
    """
    rows = session.execute(
        select(
            Invoice.id,
            Invoice.progressive_billing_credit_amount_cents,
            func.coalesce(func.sum(Fee.amount_cents), 0),
        )
        .join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
        .join(Fee, Fee.invoice_id == Invoice.id)
        .where(
            InvoiceSubscription.subscription_id == period.subscription_id,
            InvoiceSubscription.invoicing_reason == PROGRESSIVE,
            InvoiceSubscription.charges_from_datetime == period.charges_from_datetime,
            InvoiceSubscription.invoice_id != invoice.id,
            InvoiceSubscription.created_at <= period.created_at,
            Invoice.status.in_(("draft", "finalized")),
            Fee.subscription_id == period.subscription_id,
            Fee.fee_type == "charge",
            Fee.deleted_at.is_(None),
        )
        .group_by(Invoice.id, Invoice.progressive_billing_credit_amount_cents)
    ).all()
    return sum(max(int(fees) - int(credit or 0), 0) for _, credit, fees in rows)


PROVIDER = EarlyBilledCredit()
