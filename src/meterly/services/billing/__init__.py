"""Billing: turning periods, pay-in-advance events and one-off fees into invoices.

The engine prices a period's fees (`fees`), issues the invoice through Lago's waterfall
(`issuing`), bills a boundary or a termination (`boundaries`), puts what a customer owes
at one instant on one invoice (`consolidation`), keeps drafts fresh
(`drafts`) and reads usage ahead for a batch of subscriptions (`read_ahead`); `invoices`
is what happens to an invoice afterwards (void, payment status, fees, overdue).
"""

from meterly.services.billing import (
    activation,
    advance,
    fixed_charge_fees,
    invoices,
    one_off_invoices,
)
from meterly.services.billing.boundaries import (
    bill_boundary,
    terminate,
)
from meterly.services.billing.consolidation import (
    PlannedInvoice,
    bill_planned_invoice,
    customer_batches,
    due_subscriptions,
    plan_invoices,
)
from meterly.services.billing.drafts import (
    apply_grace_period,
    finalize,
    finalize_due_drafts,
    recompute_totals,
    refresh_draft,
)
from meterly.services.billing.fees import PrefetchedUsage, UsageKey, charge_fees
from meterly.services.billing.invoices import amount_due_cents
from meterly.services.billing.issuing import apply_waterfall, issue_invoice
from meterly.services.billing.read_ahead import (
    BATCH_SIZE,
    PlannedSubscription,
    plan_subscription,
    read_batch,
    successor_starts,
)
from meterly.services.billing.voiding import void_with_credit_note

__all__ = [
    "BATCH_SIZE",
    "PlannedInvoice",
    "PlannedSubscription",
    "PrefetchedUsage",
    "UsageKey",
    "activation",
    "advance",
    "amount_due_cents",
    "apply_grace_period",
    "apply_waterfall",
    "bill_boundary",
    "bill_planned_invoice",
    "charge_fees",
    "customer_batches",
    "due_subscriptions",
    "finalize",
    "finalize_due_drafts",
    "fixed_charge_fees",
    "invoices",
    "issue_invoice",
    "one_off_invoices",
    "plan_invoices",
    "plan_subscription",
    "read_batch",
    "recompute_totals",
    "refresh_draft",
    "successor_starts",
    "terminate",
    "void_with_credit_note",
]
