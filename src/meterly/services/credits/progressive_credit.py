"""What progressive invoices already billed in a period is credited on the period's later
invoices (Lago's progressive billing credit), as a provider of the invoice waterfall.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session, aliased

from meterly.domain.invoicing import InvoiceTotals
from meterly.services.common import Clock
from meterly.services.credits import invoice_credits
from meterly.store.tables import Fee, Invoice, InvoiceSubscription

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
            earlier = session.scalar(
                select(func.coalesce(func.sum(Fee.amount_cents), 0))
                .join(InvoiceSubscription, InvoiceSubscription.invoice_id == Fee.invoice_id)
                .join(Invoice, Invoice.id == Fee.invoice_id)
                .where(
                    InvoiceSubscription.subscription_id == period.subscription_id,
                    InvoiceSubscription.invoicing_reason == PROGRESSIVE,
                    InvoiceSubscription.charges_from_datetime == period.charges_from_datetime,
                    InvoiceSubscription.invoice_id != invoice.id,
                    InvoiceSubscription.created_at <= period.created_at,
                    Invoice.status == "finalized",
                    Fee.fee_type == "charge",
                    Fee.deleted_at.is_(None),
                )
            )
            credits.progressive_billing_credit_cents += int(earlier or 0)

    def consume(
        self, session: Session, *, invoice: Invoice, totals: InvoiceTotals, clock: Clock
    ) -> None:
        """Nothing to record: the credit is derived from the progressive invoices."""


PROVIDER = EarlyBilledCredit()
