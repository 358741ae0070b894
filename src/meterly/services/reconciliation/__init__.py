"""Trust tools: explain an invoice line, reconcile events with bills, audit finalized invoices."""

from meterly.services.reconciliation import audit, explain, flags, report
from meterly.services.reconciliation.audit import AuditReport, Drift, rederive_fee
from meterly.services.reconciliation.event_errors import last_complete_hour, report_event_errors
from meterly.services.reconciliation.explain import explain_fee, explain_invoice, fee_events
from meterly.services.reconciliation.flags import (
    REASONS,
    events_with_fates,
    fates,
    not_billed_reason,
)
from meterly.services.reconciliation.report import (
    ReconciliationRow,
    flagged_counts,
    reconcile,
    totals,
)

__all__ = [
    "REASONS",
    "AuditReport",
    "Drift",
    "ReconciliationRow",
    "audit",
    "events_with_fates",
    "explain",
    "explain_fee",
    "explain_invoice",
    "fates",
    "fee_events",
    "flagged_counts",
    "flags",
    "last_complete_hour",
    "not_billed_reason",
    "reconcile",
    "rederive_fee",
    "report",
    "report_event_errors",
    "totals",
]
