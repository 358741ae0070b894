"""Billing: turning periods, pay-in-advance events and one-off fees into invoices.

The engine prices a period's fees (`fees`), issues the invoice through Lago's waterfall
(`issuing`), bills a boundary or a termination (`boundaries`), keeps drafts fresh
(`drafts`) and reads usage ahead for a batch of subscriptions (`read_ahead`); `invoices`
is what happens to an invoice afterwards (void, payment status, fees, overdue).
"""

from meterly.services.billing import advance, invoices, one_off_invoices
from meterly.services.billing.boundaries import (
    bill_boundary,
    bill_termination,
    terminate,
    terminated_unbilled,
)
from meterly.services.billing.drafts import finalize_due_drafts, recompute_totals, refresh_draft
from meterly.services.billing.fees import PrefetchedUsage, UsageKey, charge_fees
from meterly.services.billing.invoices import amount_due_cents
from meterly.services.billing.issuing import finalize, issue_invoice
from meterly.services.billing.read_ahead import BATCH_SIZE, read_batch

__all__ = [
    "BATCH_SIZE",
    "PrefetchedUsage",
    "UsageKey",
    "advance",
    "amount_due_cents",
    "bill_boundary",
    "bill_termination",
    "charge_fees",
    "finalize",
    "finalize_due_drafts",
    "invoices",
    "issue_invoice",
    "one_off_invoices",
    "read_batch",
    "recompute_totals",
    "refresh_draft",
    "terminate",
    "terminated_unbilled",
]
